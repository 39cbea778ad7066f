package strictjson

import (
	"encoding/json"
	"fmt"
	"reflect"
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
		{"unterminated array", `{"keys":[`, "keys: not JSON: unexpected EOF"},
		{"unterminated array after an element", `{"keys":[1`, "keys: not JSON: unexpected EOF"},
		{"array closed by a brace", `{"a":[{}}`, "a: not JSON: invalid character '}'"},
		{"comma first in an array", `{"a":[,1]}`, "a[0]: not JSON: invalid character ','"},
		{"missing comma", `{"a":[1 2]}`, "a[1]: not JSON: invalid character '2'"},
		{"bad literal", `{"a":[{"b":tru}]}`, "a[0].b: not JSON: invalid character '}' in literal true"},
		{"bad escape", `{"a":"\q"}`, "a: not JSON: invalid escape sequence"},
		{"lone surrogate", `{"a":"\ud800"}`, "a: not JSON: invalid surrogate pair"},
		{"lone low surrogate", `["\udc00x"]`, "[0]: not JSON: invalid surrogate pair"},
		{"duplicate escaped key", `{"a":1,"\u0061":2}`, "a: duplicate key"},
		{"duplicate key needing escapes", `{"x.y":{"\"":1,"\"":2}}`, `x.y.": duplicate key`},
		{"control character", "[\"\x01\"]", "[0]: not JSON: invalid character '\\x01' in string"},
		{"number in a name", `{1:2}`, "not JSON"},
	} {
		if err := Check([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Check(%q): %v, want an error containing %q", tc.name, tc.in, err, tc.want)
		}
		if _, err := Parse([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Parse(%q): %v, want an error containing %q", tc.name, tc.in, err, tc.want)
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

// TestParse: Parse's tree holds what encoding/json decodes, members in
// document order, however many values share its allocations.
func TestParse(t *testing.T) {
	many := make([]string, 3000)
	for i := range many {
		many[i] = fmt.Sprintf(`{"n":%d,"s":"v\\u00e9%d","a":[]}`, i, i)
	}
	wide := make([]string, 100)
	for i := range wide {
		wide[i] = fmt.Sprintf(`"k%03d":%d`, i, i)
	}
	for _, in := range []string{
		`{}`, `[]`, `""`, `"x"`, `0`, `-1.5e3`, `true`, `false`, `null`,
		`{"b":1,"a":[true,null,"x\u00e9\n",{"c":{}}],"":""}`,
		`["\ud83d\ude00","\"\\\/\b\f\n\r\t","<&>",1e308,123456789012345678901234567890]`,
		`{"z":1,"y":2,"x":3}`,
		"[" + strings.Join(many, ",") + "]",
		"{" + strings.Join(wide, ",") + "}",
	} {
		v, err := Parse([]byte(in))
		if err != nil {
			t.Errorf("Parse(%.40q): %v", in, err)
			continue
		}
		dec := json.NewDecoder(strings.NewReader(in))
		dec.UseNumber()
		var want any
		if err := dec.Decode(&want); err != nil {
			t.Fatal(err)
		}
		if got := toAny(v); !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%.40q) = %v, want %v", in, got, want)
		}
	}
	v, err := Parse([]byte(`{"z":1,"y":{"x":[2]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if v.Kind() != Object || v.Len() != 2 || v.Name(0) != "z" || v.Name(1) != "y" || v.Elem(1).Elem(0).Elem(0).Text() != "2" {
		t.Errorf("members out of document order: %v", toAny(v))
	}
}

// toAny returns v as encoding/json decodes a value with UseNumber.
func toAny(v Value) any {
	switch v.Kind() {
	case Bool:
		return v.Text() == "true"
	case Number:
		return json.Number(v.Text())
	case String:
		return v.Text()
	case Array:
		a := []any{}
		for i := range v.Len() {
			a = append(a, toAny(v.Elem(i)))
		}
		return a
	case Object:
		m := map[string]any{}
		for i := range v.Len() {
			m[v.Name(i)] = toAny(v.Elem(i))
		}
		return m
	}
	return nil
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Null: "null", Bool: "boolean", Number: "number", String: "string", Array: "array", Object: "object", 99: "invalid kind"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, want)
		}
	}
}

func TestEqualCompact(t *testing.T) {
	for _, tc := range []struct {
		data, compact string
		want          bool
	}{
		{`{}`, `{}`, true},
		{" { \"a\" :\t[ 1 , \"x y\" ]\r\n}\n", `{"a":[1,"x y"]}`, true},
		{`["a b"]`, `["ab"]`, false},
		{`["\" \\"]`, `["\" \\"]`, true},
		{`["\" \\"]`, `["\"\\"]`, false},
		{`["\u0061"]`, `["a"]`, false},
		{`[1, 2]`, `[1,2,3]`, false},
		{`[1, 2]`, `[1,2`, false},
		{`{"a":1}`, `{"a":1}x`, false},
	} {
		if got := EqualCompact([]byte(tc.data), []byte(tc.compact)); got != tc.want {
			t.Errorf("EqualCompact(%q, %q) = %t, want %t", tc.data, tc.compact, got, tc.want)
		}
	}
}

func TestParseText(t *testing.T) {
	data := []byte(`{"a":["b"]}`)
	v, text, err := ParseText(data)
	if err != nil || text != string(data) || v.Elem(0).Elem(0).Text() != "b" {
		t.Fatalf("ParseText = %v, %q, %v", toAny(v), text, err)
	}
	data[8] = 'c' // the tree and the text are copies
	if text != `{"a":["b"]}` || v.Elem(0).Elem(0).Text() != "b" {
		t.Errorf("after data changed: %q, %v", text, toAny(v))
	}
	if _, _, err := ParseText([]byte(`{"a":1,"a":2}`)); err == nil || err.Error() != "a: duplicate key" {
		t.Errorf("ParseText of a duplicate key: %v", err)
	}
}
