package strictjson

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, ok := range []string{
		`{}`, `[]`, `"x"`, `1`, `-1.5e3`, `1e308`, `123456789012345678901234567890`, `true`, `null`, " \n{ \"a\" : [1, {\"a\": 2}] }\n\t",
		`{"a":1,"A":2}`, `[{"a":1},{"a":1}]`, `{"a":{"a":{"a":{}}}}`, `"\u00e9\ud83d\ude00"`,
		strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth),
		strings.Repeat(`{"a":`, MaxDepth) + "1" + strings.Repeat("}", MaxDepth),
	} {
		if err := Check([]byte(ok)); err != nil {
			t.Errorf("Check(%q): %v", ok, err)
		}
	}
}

func TestCheckBad(t *testing.T) {
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	for _, tc := range []struct{ name, in, want string }{
		{"empty", ``, "empty, want a JSON value"},
		{"white space", " \n\t\r", "empty"},
		{"NUL", "\x00", "not JSON: invalid character"},
		{"garbage", `provenance`, "not JSON: invalid character"},
		{"invalid UTF-8", "\"\xff\"", "not valid UTF-8"},
		{"invalid UTF-8 in a key", "{\"\xc0\":1}", "not valid UTF-8"},
		{"duplicate key", `{"a":1,"a":2}`, "a: duplicate key"},
		{"duplicate nested key", `{"x":[{"b":{"a":1,"a":2}}]}`, "x[0].b.a: duplicate key"},
		{"duplicate key, same value", `{"a":1,"a":1}`, "a: duplicate key"},
		{"trailing data", `{} x`, "trailing data after the JSON value at byte 2"},
		{"second value", `{}{}`, "trailing data"},
		{"trailing NUL", "{}\x00", "trailing data"},
		{"trailing brace", `{}}`, "trailing data"},
		{"truncated object", `{"a":[1,`, "a[1]: not JSON: unexpected EOF"},
		{"unterminated", `{`, "not JSON: unexpected EOF"},
		{"trailing comma", `{"a":1,}`, "not JSON"},
		{"missing value", `{"a":}`, "a: not JSON"},
		{"closing bracket", `]`, "not JSON"},
		{"number out of range", `{"n":[1e400]}`, "n[0]: number 1e400 is out of the range of a 64-bit float"},
		{"negative number out of range", `-1e400`, "top level: number -1e400"},
		{"deep arrays", deep, "nested deeper than 64 levels"},
		{"deep objects", strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1), "nested deeper than 64 levels"},
		{"deep and unterminated", strings.Repeat("[", 10000), "nested deeper"},
	} {
		if err := Check([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Check(%q): %v, want an error containing %q", tc.name, tc.in, err, tc.want)
		}
	}
}

func TestUnmarshal(t *testing.T) {
	type doc struct {
		A int            `json:"a"`
		B map[string]int `json:"b"`
	}
	var d doc
	if err := Unmarshal([]byte(`{"a":1,"b":{"x":2}}`), &d); err != nil || d.A != 1 || d.B["x"] != 2 {
		t.Fatalf("Unmarshal: %+v, %v", d, err)
	}
	for _, tc := range []struct{ in, want string }{
		{`{"a":1,"c":2}`, `unknown field "c"`},
		{`{"a":1,"a":2}`, "a: duplicate key"},
		{`{"a":1} {}`, "trailing data"},
		{`{"a":"1"}`, "cannot unmarshal"},
		{`{"b":{"x":1,"x":2}}`, "b.x: duplicate key"},
	} {
		var d doc
		if err := Unmarshal([]byte(tc.in), &d); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Unmarshal(%s): %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}
