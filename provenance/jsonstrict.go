package provenance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The decoders of this package read JSON in two passes. checkJSON first
// insists on one object, valid UTF-8, no duplicate keys at any depth and
// nothing after the object: encoding/json alone would take the last of two
// duplicate keys, replace invalid UTF-8 silently and match keys without
// regard to case, so two readers of the same bytes could disagree. The
// document is then decoded into a generic tree that jsonObject walks with
// exact, case-sensitive keys, so that every error names the field.

// maxJSONDepth bounds the nesting of the documents read here; Kettle's are
// at most six levels deep.
const maxJSONDepth = 32

// checkJSON validates the shape of a JSON document as described above.
func checkJSON(data []byte) error {
	if !utf8.Valid(data) {
		return errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err == io.EOF {
		return errors.New("empty, want a JSON object")
	}
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("not a JSON object")
	}
	if err := walkObject(dec, "", 1); err != nil {
		return err
	}
	off := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("trailing data after the JSON object at byte %d", off)
	}
	return nil
}

func walkObject(dec *json.Decoder, path string, depth int) error {
	if depth > maxJSONDepth {
		return fmt.Errorf("%s: nested deeper than %d levels", pathOrRoot(path), maxJSONDepth)
	}
	seen := map[string]bool{}
	for {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%s: not JSON: %w", pathOrRoot(path), unexpectedEOF(err))
		}
		if d, ok := tok.(json.Delim); ok && d == '}' {
			return nil
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("%s: not JSON: object key is %v", pathOrRoot(path), tok)
		}
		field := joinPath(path, key)
		if seen[key] {
			return fmt.Errorf("%s: duplicate key", field)
		}
		seen[key] = true
		if err := walkValue(dec, field, depth); err != nil {
			return err
		}
	}
}

func walkValue(dec *json.Decoder, path string, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%s: not JSON: %w", path, unexpectedEOF(err))
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		return walkObject(dec, path, depth+1)
	case '[':
		if depth+1 > maxJSONDepth {
			return fmt.Errorf("%s: nested deeper than %d levels", path, maxJSONDepth)
		}
		for i := 0; ; i++ {
			if !dec.More() {
				if _, err := dec.Token(); err != nil {
					return fmt.Errorf("%s: not JSON: %w", path, unexpectedEOF(err))
				}
				return nil
			}
			if err := walkValue(dec, fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("%s: not JSON: unexpected %v", path, d)
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// decodeObject checks data with checkJSON and returns its top-level object.
func decodeObject(data []byte) (*jsonObject, error) {
	if err := checkJSON(data); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	return &jsonObject{m: m, used: map[string]bool{}}, nil
}

// jsonObject walks one decoded JSON object with exact keys. Every accessor
// marks its key as known; end reports any key that no accessor asked for.
type jsonObject struct {
	path string
	m    map[string]any
	used map[string]bool
}

func asObject(path string, v any) (*jsonObject, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: got %s, want an object", pathOrRoot(path), jsonType(v))
	}
	return &jsonObject{path: path, m: m, used: map[string]bool{}}, nil
}

func asString(path string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: got %s, want a string", path, jsonType(v))
	}
	return s, nil
}

func asUint(path string, v any) (uint64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%s: got %s, want a number", path, jsonType(v))
	}
	s := string(n)
	if s == "" || strings.Trim(s, "0123456789") != "" || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%s: %s is not a non-negative integer", path, s)
	}
	u, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %s is out of range", path, s)
	}
	return u, nil
}

func (o *jsonObject) field(key string) string { return joinPath(o.path, key) }

// get returns the value of key, or ok = false when the key is absent.
func (o *jsonObject) get(key string) (v any, ok bool) {
	o.used[key] = true
	v, ok = o.m[key]
	return v, ok
}

func (o *jsonObject) require(key string) (any, error) {
	v, ok := o.get(key)
	if !ok {
		return nil, fmt.Errorf("%s: missing", o.field(key))
	}
	return v, nil
}

func (o *jsonObject) str(key string) (string, error) {
	v, err := o.require(key)
	if err != nil {
		return "", err
	}
	return asString(o.field(key), v)
}

// nonEmptyStr is str for a string that must not be empty.
func (o *jsonObject) nonEmptyStr(key string) (string, error) {
	s, err := o.str(key)
	if err == nil && s == "" {
		err = fmt.Errorf("%s: empty", o.field(key))
	}
	return s, err
}

// optStr returns "" for an absent key; a present key must hold a non-empty
// string, since Kettle's encoders omit empty ones.
func (o *jsonObject) optStr(key string) (string, error) {
	if _, ok := o.m[key]; !ok {
		o.used[key] = true
		return "", nil
	}
	return o.nonEmptyStr(key)
}

func (o *jsonObject) uint(key string) (uint64, error) {
	v, err := o.require(key)
	if err != nil {
		return 0, err
	}
	return asUint(o.field(key), v)
}

// int is uint for a value that must fit an int.
func (o *jsonObject) int(key string) (int, error) {
	u, err := o.uint(key)
	if err == nil && u > math.MaxInt32 {
		err = fmt.Errorf("%s: %d is too large", o.field(key), u)
	}
	return int(u), err
}

func (o *jsonObject) obj(key string) (*jsonObject, error) {
	v, err := o.require(key)
	if err != nil {
		return nil, err
	}
	return asObject(o.field(key), v)
}

// optObj returns nil for an absent key.
func (o *jsonObject) optObj(key string) (*jsonObject, error) {
	if _, ok := o.m[key]; !ok {
		o.used[key] = true
		return nil, nil
	}
	return o.obj(key)
}

func (o *jsonObject) arr(key string) ([]any, error) {
	v, err := o.require(key)
	if err != nil {
		return nil, err
	}
	a, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: got %s, want an array", o.field(key), jsonType(v))
	}
	return a, nil
}

// optStrMap returns nil for an absent key and otherwise an object whose
// values are all strings.
func (o *jsonObject) optStrMap(key string) (map[string]string, error) {
	sub, err := o.optObj(key)
	if sub == nil || err != nil {
		return nil, err
	}
	out := make(map[string]string, len(sub.m))
	for k, v := range sub.m {
		s, err := asString(sub.field(k), v)
		if err != nil {
			return nil, err
		}
		out[k] = s
	}
	return out, nil
}

// end reports the first unknown key, in sorted order so that the error does
// not depend on map iteration.
func (o *jsonObject) end() error {
	var unknown []string
	for k := range o.m {
		if !o.used[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("%s: unknown field", o.field(unknown[0]))
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func pathOrRoot(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// encodeJSON writes v as indented JSON with HTML characters left alone and
// a trailing newline. Struct fields keep their declared order and map keys
// are sorted, so equal values always give equal bytes.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
