package provenance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/kettle-build/kettle/internal/strictjson"
)

// The decoders of this package read JSON in two passes. checkJSON first
// insists on one object that strictjson.Check accepts: valid UTF-8, no
// duplicate keys at any depth, bounded nesting and nothing after the
// object. The document is then decoded into a generic tree that jsonObject
// walks with exact, case-sensitive keys (encoding/json would match keys
// without regard to case), so that every error names the field.

// checkJSON validates the shape of a JSON document as described above.
func checkJSON(data []byte) error {
	if err := strictjson.Check(data); err != nil {
		return err
	}
	// Check has refused a document of nothing but white space.
	if b := bytes.TrimLeft(data, " \t\r\n"); b[0] != '{' {
		return errors.New("not a JSON object")
	}
	return nil
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

func (o *jsonObject) field(key string) string { return strictjson.JoinKey(o.path, key) }

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
