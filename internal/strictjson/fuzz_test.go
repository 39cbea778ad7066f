package strictjson

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzCheck: what Check accepts, encoding/json reads to the same value as
// a decoder that keeps every key, and what encoding/json refuses, Check
// refuses.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		`{"b":1,"a":[true,null,"x\u00e9\n"]}`, `  [ 1.5e3 , "<&>" ]  `, `{"a":{"a":{}}}`, `"\ud83d\ude00"`,
		`{"a":1,"a":2}`, `{} {}`, `{"a":[[[]]],"b":-0.5E+3}`, `"\"\\"`, `{"a":1,"\u0061":2}`, `["\ud800"]`, `{"keys":[`, `[[[[[[[[]]]]]]]]`, "\"\xff\"", ``, `{"a":`, `[1e400]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := Check(b)
		tree, perr := Parse(b)
		if (err == nil) != (perr == nil) || (err != nil && err.Error() != perr.Error()) {
			t.Fatalf("Check: %v; Parse: %v", err, perr)
		}
		// The scan of what jsontext validated accepts what the token
		// reader accepts, and builds the same tree.
		if utf8.Valid(b) && len(bytes.TrimLeft(b, " \t\r\n")) > 0 {
			slow, serr := readTokens(b, builder{build: true, src: string(b)})
			if (perr == nil) != (serr == nil) || (perr != nil && perr.Error() != serr.Error()) {
				t.Fatalf("Parse: %v; token by token: %v", perr, serr)
			}
			if perr == nil && !reflect.DeepEqual(toAny(tree), toAny(slow)) {
				t.Fatalf("Parse = %v, token by token %v", toAny(tree), toAny(slow))
			}
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var v any
		jerr := dec.Decode(&v)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if jerr != nil {
			t.Fatalf("Check accepted %q, which encoding/json refuses: %v", b, jerr)
		}
		// No key was dropped: re-encoding and checking again succeeds, and
		// compacting the input gives as many keys as the decoded value has.
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := Check(out); err != nil {
			t.Fatalf("Check refuses encoding/json's encoding of what it accepted: %v", err)
		}
		if countKeys(b) != countKeys(out) {
			t.Fatalf("%q: a key was lost in decoding", b)
		}
		if got := toAny(tree); !reflect.DeepEqual(got, v) {
			t.Fatalf("Parse(%q) = %v, encoding/json decodes %v", b, got, v)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, b); err != nil {
			t.Fatal(err)
		}
		if !EqualCompact(b, compact.Bytes()) {
			t.Fatalf("EqualCompact(%q, %q) is false", b, compact.Bytes())
		}
		if c := compact.Bytes(); len(c) > 0 && EqualCompact(b, c[:len(c)-1]) {
			t.Fatalf("EqualCompact(%q, %q) is true", b, c[:len(c)-1])
		}
		var w, x any
		werr, xerr := Unmarshal(b, &w), json.Unmarshal(b, &x)
		if (werr == nil) != (xerr == nil) || !reflect.DeepEqual(w, x) {
			t.Fatalf("Unmarshal = %v, %v; json.Unmarshal = %v, %v", w, werr, x, xerr)
		}
	})
}

// countKeys counts the object keys of a valid JSON document.
func countKeys(b []byte) int {
	dec := json.NewDecoder(bytes.NewReader(b))
	n, afterKey := 0, false
	var stack []json.Delim
	for {
		tok, err := dec.Token()
		if err != nil {
			return n
		}
		inObject := len(stack) > 0 && stack[len(stack)-1] == '{'
		if _, ok := tok.(string); ok && inObject && !afterKey {
			n++
			afterKey = true
			continue
		}
		afterKey = false
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				stack = append(stack, d)
			default:
				stack = stack[:len(stack)-1]
			}
		}
	}
}
