// Package strictjson checks that a JSON document can be read only one way.
//
// encoding/json alone takes the last of two duplicate keys, replaces
// invalid UTF-8 silently and stops at the end of the first value, so two
// readers of the same bytes could disagree about what they say. Check
// refuses such documents, and bounds their nesting so that the readers
// that walk them recursively are bounded too.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of arrays and objects Check accepts. The
// documents Kettle reads nest less than ten levels deep.
const MaxDepth = 64

// Check reports whether data is exactly one JSON value: valid UTF-8, no
// object holding a key twice, arrays and objects nested at most MaxDepth
// deep, no number beyond the range of a 64-bit float (which most readers
// refuse), and nothing after the value but white space. Errors name the value
// at fault by its path from the top, as in "subject[0].digest".
func Check(data []byte) error {
	if !utf8.Valid(data) {
		return errors.New("not valid UTF-8")
	}
	if len(bytes.TrimLeft(data, " \t\r\n")) == 0 {
		return errors.New("empty, want a JSON value")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := walk(dec, "", 0); err != nil {
		return err
	}
	off := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("trailing data after the JSON value at byte %d", off)
	}
	return nil
}

// Unmarshal checks data with Check and decodes it into v as json.Unmarshal
// does, except that an object key that matches no field of the struct it
// decodes into is an error.
func Unmarshal(data []byte, v any) error {
	if err := Check(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// walk reads one value whose enclosing arrays and objects number depth.
func walk(dec *json.Decoder, path string, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return syntaxError(path, err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		if n, ok := tok.(json.Number); ok {
			if _, err := strconv.ParseFloat(string(n), 64); err != nil {
				return fmt.Errorf("%s: number %s is out of the range of a 64-bit float", pathOrTop(path), n)
			}
		}
		return nil
	}
	if depth+1 > MaxDepth {
		return fmt.Errorf("%s: nested deeper than %d levels", pathOrTop(path), MaxDepth)
	}
	switch d {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return syntaxError(path, err)
			}
			key, ok := tok.(string)
			if !ok { // the decoder's own syntax checks make this unreachable
				return fmt.Errorf("%s: not JSON: object key is %v", pathOrTop(path), tok)
			}
			field := JoinKey(path, key)
			if seen[key] {
				return fmt.Errorf("%s: duplicate key", field)
			}
			seen[key] = true
			if err := walk(dec, field, depth+1); err != nil {
				return err
			}
		}
	case '[':
		for i := 0; dec.More(); i++ {
			if err := walk(dec, JoinIndex(path, i), depth+1); err != nil {
				return err
			}
		}
	default: // the decoder returns a closing delimiter only where it closes
		return fmt.Errorf("%s: not JSON: unexpected %v", pathOrTop(path), d)
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return syntaxError(path, err)
	}
	return nil
}

func syntaxError(path string, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if path == "" {
		return fmt.Errorf("not JSON: %w", err)
	}
	return fmt.Errorf("%s: not JSON: %w", path, err)
}

// JoinKey returns the path of the member key of the object at path, as
// Check's errors name it: "key" at the top, else path + "." + key.
func JoinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// JoinIndex returns the path of element i of the array at path, as Check's
// errors name it: path + "[i]".
func JoinIndex(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

func pathOrTop(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}
