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

	"github.com/go-json-experiment/json/jsontext"

	"github.com/kettle-build/kettle/internal/strictjson"
)

// The decoders of this package parse a document once: strictjson.Parse
// insists on valid UTF-8, no duplicate keys at any depth, bounded nesting
// and nothing after the value, and returns the document's tree, which must
// be an object. jsonObject walks the tree with exact, case-sensitive keys
// (encoding/json would match keys without regard to case), so that every
// error names the field.

// checkJSON checks that data is one object that strictjson.Check accepts.
func checkJSON(data []byte) error {
	if err := strictjson.Check(data); err != nil {
		return err
	}
	return checkIsObject(data)
}

// checkIsObject reports whether a document strictjson has accepted is an
// object.
func checkIsObject(data []byte) error {
	// strictjson has refused a document of nothing but white space.
	if b := bytes.TrimLeft(data, " \t\r\n"); b[0] != '{' {
		return errors.New("not a JSON object")
	}
	return nil
}

// parseObject checks data as checkJSON does and returns its tree and its
// text, as strictjson.ParseText does.
func parseObject(data []byte) (strictjson.Value, string, error) {
	v, text, err := strictjson.ParseText(data)
	if err != nil {
		return v, "", err
	}
	return v, text, checkIsObject(data)
}

// decodeObject checks data as checkJSON does and returns its top-level
// object.
func decodeObject(data []byte) (*jsonObject, error) {
	v, _, err := parseObject(data)
	if err != nil {
		return nil, err
	}
	return topObject(v), nil
}

// topObject returns the top-level object of a document parseObject has
// accepted.
func topObject(v strictjson.Value) *jsonObject {
	return &jsonObject{doc: &jsonDoc{}, v: v}
}

// jsonDoc is what the objects of one document share: room for the
// jsonObjects of a document with thousands of them, which would otherwise
// be allocated one by one.
type jsonDoc struct {
	objs []jsonObject
}

func (d *jsonDoc) newObject() *jsonObject {
	if len(d.objs) == cap(d.objs) {
		d.objs = make([]jsonObject, 0, 256)
	}
	d.objs = d.objs[:len(d.objs)+1]
	return &d.objs[len(d.objs)-1]
}

// jsonObject walks one object of a parsed document with exact keys. Every
// accessor marks its key as known; end reports any key that no accessor
// asked for. The object's path in errors is computed only for an error.
type jsonObject struct {
	doc    *jsonDoc
	parent *jsonObject // nil for the top-level object
	key    string      // the member of parent that holds the object
	index  int         // the element of that member, an array, if inArray
	// inArray says that the object is an element of the array parent.key.
	inArray bool

	v    strictjson.Value
	used uint64 // members 0 to 63 known
	// usedMore holds members 64 and on, of an object that large.
	usedMore []bool
}

// path returns the object's path, as strictjson names it.
func (o *jsonObject) path() string {
	if o.parent == nil {
		return ""
	}
	p := strictjson.JoinKey(o.parent.path(), o.key)
	if o.inArray {
		p = strictjson.JoinIndex(p, o.index)
	}
	return p
}

func (o *jsonObject) field(key string) string { return strictjson.JoinKey(o.path(), key) }

// lookup returns the position of key among the object's members.
func (o *jsonObject) lookup(key string) (int, bool) {
	for i := range o.v.Len() {
		if o.v.Name(i) == key {
			return i, true
		}
	}
	return 0, false
}

func (o *jsonObject) markUsed(i int) {
	if i < 64 {
		o.used |= 1 << i
		return
	}
	if o.usedMore == nil {
		o.usedMore = make([]bool, o.v.Len()-64)
	}
	o.usedMore[i-64] = true
}

func (o *jsonObject) isUsed(i int) bool {
	if i < 64 {
		return o.used&(1<<i) != 0
	}
	return o.usedMore != nil && o.usedMore[i-64]
}

// get returns the value of key, or ok = false when the key is absent.
func (o *jsonObject) get(key string) (v strictjson.Value, ok bool) {
	i, ok := o.lookup(key)
	if !ok {
		return strictjson.Value{}, false
	}
	o.markUsed(i)
	return o.v.Elem(i), true
}

func (o *jsonObject) require(key string) (strictjson.Value, error) {
	v, ok := o.get(key)
	if !ok {
		return v, fmt.Errorf("%s: missing", o.field(key))
	}
	return v, nil
}

// child returns the object value v of the member key, or of element index
// of that member when inArray, named by its path in errors.
func (o *jsonObject) child(key string, index int, inArray bool, v strictjson.Value) (*jsonObject, error) {
	if v.Kind() != strictjson.Object {
		return nil, o.childInto(&jsonObject{}, key, index, inArray, v)
	}
	c := o.doc.newObject()
	return c, o.childInto(c, key, index, inArray, v)
}

// childInto is child into c, for a caller that decodes one object after
// another and needs none of them once it is done with it.
func (o *jsonObject) childInto(c *jsonObject, key string, index int, inArray bool, v strictjson.Value) error {
	*c = jsonObject{doc: o.doc, parent: o, key: key, index: index, inArray: inArray, v: v}
	if v.Kind() != strictjson.Object {
		return fmt.Errorf("%s: got %s, want an object", pathOrRoot(c.path()), jsonType(v))
	}
	return nil
}

// objInto is obj into c, as childInto.
func (o *jsonObject) objInto(c *jsonObject, key string) error {
	v, err := o.require(key)
	if err != nil {
		return err
	}
	return o.childInto(c, key, 0, false, v)
}

func asString(path string, v strictjson.Value) (string, error) {
	if v.Kind() != strictjson.String {
		return "", fmt.Errorf("%s: got %s, want a string", path, jsonType(v))
	}
	return v.Text(), nil
}

func asUint(path string, v strictjson.Value) (uint64, error) {
	if v.Kind() != strictjson.Number {
		return 0, fmt.Errorf("%s: got %s, want a number", path, jsonType(v))
	}
	s := v.Text()
	if s == "" || strings.Trim(s, "0123456789") != "" || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%s: %s is not a non-negative integer", path, s)
	}
	u, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %s is out of range", path, s)
	}
	return u, nil
}

func (o *jsonObject) str(key string) (string, error) {
	v, err := o.require(key)
	if err != nil {
		return "", err
	}
	if v.Kind() != strictjson.String {
		return asString(o.field(key), v)
	}
	return v.Text(), nil
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
	v, ok := o.get(key)
	switch {
	case !ok:
		return "", nil
	case v.Kind() != strictjson.String:
		return asString(o.field(key), v)
	case v.Text() == "":
		return "", fmt.Errorf("%s: empty", o.field(key))
	}
	return v.Text(), nil
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
	return o.child(key, 0, false, v)
}

// optObj returns nil for an absent key.
func (o *jsonObject) optObj(key string) (*jsonObject, error) {
	v, ok := o.get(key)
	if !ok {
		return nil, nil
	}
	return o.child(key, 0, false, v)
}

// jsonArray is the array value of one member of an object.
type jsonArray struct {
	o   *jsonObject
	key string
	v   strictjson.Value
}

func (o *jsonObject) arr(key string) (jsonArray, error) {
	v, err := o.require(key)
	if err != nil {
		return jsonArray{}, err
	}
	if v.Kind() != strictjson.Array {
		return jsonArray{}, fmt.Errorf("%s: got %s, want an array", o.field(key), jsonType(v))
	}
	return jsonArray{o: o, key: key, v: v}, nil
}

func (a jsonArray) len() int { return a.v.Len() }

// path returns the path of element i.
func (a jsonArray) path(i int) string { return strictjson.JoinIndex(a.o.field(a.key), i) }

// obj returns element i, which must be an object.
func (a jsonArray) obj(i int) (*jsonObject, error) {
	return a.o.child(a.key, i, true, a.v.Elem(i))
}

// objInto is obj into c, as childInto.
func (a jsonArray) objInto(c *jsonObject, i int) error {
	return a.o.childInto(c, a.key, i, true, a.v.Elem(i))
}

// str returns element i, which must be a string.
func (a jsonArray) str(i int) (string, error) {
	v := a.v.Elem(i)
	if v.Kind() != strictjson.String {
		return asString(a.path(i), v)
	}
	return v.Text(), nil
}

// optStrMap returns nil for an absent key and otherwise an object whose
// values are all strings.
func (o *jsonObject) optStrMap(key string) (map[string]string, error) {
	sub, err := o.optObj(key)
	if sub == nil || err != nil {
		return nil, err
	}
	out := make(map[string]string, sub.v.Len())
	for i := range sub.v.Len() {
		k, v := sub.v.Name(i), sub.v.Elem(i)
		if v.Kind() != strictjson.String {
			_, err := asString(sub.field(k), v)
			return nil, err
		}
		out[k] = v.Text()
	}
	return out, nil
}

// optStrMapWithout is optStrMap for a map from which the member named
// split is taken out and returned on its own; the map of the others is nil
// when there are none.
func (o *jsonObject) optStrMapWithout(key, split string) (v string, ok bool, rest map[string]string, err error) {
	m, present := o.get(key)
	if !present {
		return "", false, nil, nil
	}
	var sub jsonObject
	if err := o.childInto(&sub, key, 0, false, m); err != nil {
		return "", false, nil, err
	}
	for i := range sub.v.Len() {
		k, e := sub.v.Name(i), sub.v.Elem(i)
		if e.Kind() != strictjson.String {
			_, err := asString(sub.field(k), e)
			return "", false, nil, err
		}
		if k == split {
			v, ok = e.Text(), true
			continue
		}
		if rest == nil {
			rest = make(map[string]string, sub.v.Len())
		}
		rest[k] = e.Text()
	}
	return v, ok, rest, nil
}

// end reports the first unknown key, in sorted order.
func (o *jsonObject) end() error {
	var unknown []string
	for i := range o.v.Len() {
		if !o.isUsed(i) {
			unknown = append(unknown, o.v.Name(i))
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

func jsonType(v strictjson.Value) string {
	switch v.Kind() {
	case strictjson.Null:
		return "null"
	case strictjson.Bool:
		return "a boolean"
	case strictjson.Number:
		return "a number"
	case strictjson.String:
		return "a string"
	case strictjson.Array:
		return "an array"
	case strictjson.Object:
		return "an object"
	}
	return v.Kind().String()
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

// encodeCompactJSON is encodeJSON without the indentation and the newline:
// what json.Compact makes of encodeJSON's bytes. sizeHint is the size
// expected, if known.
func encodeCompactJSON(v any, sizeHint int) ([]byte, error) {
	buf := bytes.NewBuffer(make([]byte, 0, sizeHint+1))
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// compactJSON returns a copy of a JSON document without the white space
// between its tokens, its strings and numbers as they are written, as
// json.Compact does.
func compactJSON(data []byte) ([]byte, error) {
	v := jsontext.Value(bytes.Clone(data))
	if err := v.Compact(); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	return v, nil
}
