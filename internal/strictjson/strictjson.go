// Package strictjson checks that a JSON document can be read only one way,
// and reads such a document into a tree.
//
// encoding/json alone takes the last of two duplicate keys, replaces
// invalid UTF-8 and lone UTF-16 surrogates silently and stops at the end of
// the first value, so two readers of the same bytes could disagree about
// what they say. Check refuses such documents, and bounds their nesting so
// that the readers that walk them recursively are bounded too. Parse makes
// the same checks and returns the document's tree.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// MaxDepth is the deepest nesting of arrays and objects Check accepts. The
// documents Kettle reads nest less than ten levels deep.
const MaxDepth = 64

// Check reports whether data is exactly one JSON value: valid UTF-8 with no
// escaped lone UTF-16 surrogate, no object holding a key twice (keys are
// compared after unescaping), arrays and objects nested at most MaxDepth
// deep, no number beyond the range of a 64-bit float (which most readers
// refuse), and nothing after the value but white space. Errors name the
// value at fault by its path from the top, as in "subject[0].digest".
func Check(data []byte) error {
	_, err := read(data, builder{})
	return err
}

// Parse checks data as Check does and returns the value it holds.
func Parse(data []byte) (Value, error) {
	v, _, err := ParseText(data)
	return v, err
}

// ParseText is Parse that also returns data as a string, whose bytes the
// strings of the tree share: a caller that keeps the tree can keep the
// document's text for nothing.
func ParseText(data []byte) (Value, string, error) {
	b := builder{build: true, src: string(data)}
	v, err := read(data, b)
	return v, b.src, err
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

// read checks data and, if b.build is set, returns its tree.
//
// jsontext validates the document first, refusing duplicate names, invalid
// UTF-8 and bad escapes; a scan of the validated bytes then checks the
// depth and number limits and builds the tree. Only a document that fails
// either is read again token by token, to name the value at fault.
func read(data []byte, b builder) (Value, error) {
	// A valid document is valid UTF-8 and not empty.
	if jsontext.Value(data).IsValid() {
		s := &scanner{builder: b, data: data}
		if v, ok := s.value(0); ok {
			return v, nil
		}
	}
	if !utf8.Valid(data) {
		return Value{}, errors.New("not valid UTF-8")
	}
	if len(bytes.TrimLeft(data, " \t\r\n")) == 0 {
		return Value{}, errors.New("empty, want a JSON value")
	}
	return readTokens(data, b)
}

// readTokens is read token by token.
//
// The tokens come from jsontext.Decoder, which refuses duplicate names and
// invalid UTF-8 itself and reads without allocating; the reader adds the
// depth and number limits, the paths in errors and the tree.
func readTokens(data []byte, b builder) (Value, error) {
	r := &reader{builder: b, data: data, dec: jsontext.NewDecoder(bytes.NewBuffer(data))}
	v, err := r.value(0)
	if err != nil {
		return Value{}, err.resolve(data)
	}
	off := r.dec.InputOffset()
	if _, err := r.dec.ReadToken(); err != io.EOF {
		return Value{}, fmt.Errorf("trailing data after the JSON value at byte %d", off)
	}
	return v, nil
}

// builder holds what building a tree needs.
type builder struct {
	build bool
	// src is the document as a string, when building: strings without
	// escapes are slices of it, so that a tree costs one allocation per few
	// hundred values, not one per string.
	src   string
	slab  []Value // spare room for the elements of arrays and objects
	stack []Value // the elements read so far of the open arrays and objects
}

// reader reads one document token by token.
type reader struct {
	builder
	data []byte
	dec  *jsontext.Decoder
}

// value reads the value that comes next, nested in depth arrays and
// objects.
func (r *reader) value(depth int) (Value, *readError) {
	switch kind := r.dec.PeekKind(); kind {
	case '{', '[':
		if depth+1 > MaxDepth {
			return Value{}, locatedError(func(path string) error {
				return fmt.Errorf("%s: nested deeper than %d levels", pathOrTop(path), MaxDepth)
			})
		}
		if _, err := r.dec.ReadToken(); err != nil {
			return Value{}, syntaxError(err)
		}
		if kind == '{' {
			return r.object(depth + 1)
		}
		return r.array(depth + 1)
	case '"':
		raw, err := r.dec.ReadValue()
		if err != nil {
			return Value{}, syntaxError(err)
		}
		if !r.build {
			return Value{}, nil
		}
		s, err := r.text(raw)
		if err != nil {
			return Value{}, syntaxError(err)
		}
		return Value{kind: String, text: s}, nil
	case '0':
		raw, err := r.dec.ReadValue()
		if err != nil {
			return Value{}, syntaxError(err)
		}
		if _, err := strconv.ParseFloat(string(raw), 64); err != nil {
			n := string(raw)
			return Value{}, locatedError(func(path string) error {
				return fmt.Errorf("%s: number %s is out of the range of a 64-bit float", pathOrTop(path), n)
			})
		}
		if !r.build {
			return Value{}, nil
		}
		s, _ := r.text(raw)
		return Value{kind: Number, text: s}, nil
	default:
		tok, err := r.dec.ReadToken()
		if err != nil {
			return Value{}, syntaxError(err)
		}
		switch tok.Kind() {
		case 't':
			return Value{kind: Bool, text: "true"}, nil
		case 'f':
			return Value{kind: Bool, text: "false"}, nil
		case 'n':
			return Value{kind: Null}, nil
		}
		// The decoder returns a closing delimiter only where it closes.
		return Value{}, syntaxError(fmt.Errorf("unexpected %v", tok.Kind()))
	}
}

// object reads the members of an object whose '{' has been read.
func (r *reader) object(depth int) (Value, *readError) {
	base := len(r.stack)
	defer func() { r.stack = r.stack[:base] }()
	for r.dec.PeekKind() != '}' {
		raw, err := r.dec.ReadValue() // the member's name; the decoder refuses a duplicate
		if err != nil {
			var serr *jsontext.SyntacticError
			if errors.As(err, &serr) && errors.Is(err, jsontext.ErrDuplicateName) {
				key := serr.JSONPointer.LastToken()
				return Value{}, locatedError(func(path string) error {
					return fmt.Errorf("%s: duplicate key", JoinKey(path, key))
				})
			}
			return Value{}, syntaxError(err)
		}
		end := r.dec.InputOffset()
		start := end - int64(len(raw))
		var key string
		if r.build {
			if key, err = r.text(raw); err != nil {
				return Value{}, syntaxError(err)
			}
		}
		v, verr := r.value(depth)
		if verr != nil {
			return Value{}, verr.in(step{nameStart: start, nameEnd: end})
		}
		if r.build {
			r.stack = append(r.stack, Value{kind: String, text: key}, v)
		}
	}
	if _, err := r.dec.ReadToken(); err != nil {
		return Value{}, syntaxError(err)
	}
	if !r.build {
		return Value{}, nil
	}
	return Value{kind: Object, elems: r.keep(r.stack[base:])}, nil
}

// array reads the elements of an array whose '[' has been read.
func (r *reader) array(depth int) (Value, *readError) {
	base := len(r.stack)
	defer func() { r.stack = r.stack[:base] }()
	for i := 0; ; i++ {
		kind := r.dec.PeekKind()
		if kind == ']' {
			break
		}
		if (kind == 0 || kind == '}') && !r.elementFollows() {
			// The error is the array's: it ends too early or badly.
			_, err := r.dec.ReadToken()
			return Value{}, syntaxError(err)
		}
		v, err := r.value(depth)
		if err != nil {
			return Value{}, err.in(step{index: i, isIndex: true})
		}
		if r.build {
			r.stack = append(r.stack, v)
		}
	}
	if _, err := r.dec.ReadToken(); err != nil {
		return Value{}, syntaxError(err)
	}
	if !r.build {
		return Value{}, nil
	}
	return Value{kind: Array, elems: r.keep(r.stack[base:])}, nil
}

// elementFollows reports whether something other than the end of an array
// or object follows the last token read, as encoding/json's Decoder.More
// does: an error there is the next element's, not the array's.
func (r *reader) elementFollows() bool {
	rest := bytes.TrimLeft(r.data[r.dec.InputOffset():], " \t\r\n")
	return len(rest) > 0 && rest[0] != ']' && rest[0] != '}'
}

// slabSize is how many values the reader allocates at a time for the
// elements of the arrays and objects it builds.
const slabSize = 1024

// keep copies the elements of a finished array or object out of the stack.
// They share a few large allocations rather than one each.
func (r *builder) keep(elems []Value) []Value {
	if len(elems) == 0 {
		return nil
	}
	if len(elems) > cap(r.slab)-len(r.slab) {
		r.slab = make([]Value, 0, max(slabSize, len(elems)))
	}
	n := len(r.slab)
	r.slab = append(r.slab, elems...)
	return r.slab[n:len(r.slab):len(r.slab)]
}

// text returns what the literal raw, just read, stands for: a string's
// contents, a number as written.
func (r *reader) text(raw jsontext.Value) (string, error) {
	end := int(r.dec.InputOffset())
	start := end - len(raw)
	if raw[0] != '"' {
		return r.src[start:end], nil
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return r.src[start+1 : end-1], nil
	}
	b, err := jsontext.AppendUnquote(nil, raw)
	return string(b), err
}

// readError is an error of the value at the end of a path, which is known
// only once the error has reached the top.
type readError struct {
	steps  []step // from the value at fault outwards
	format func(path string) error
}

// step is one step of a path: an object member, by the offsets of its
// quoted name in the document, or an array element.
type step struct {
	nameStart, nameEnd int64
	index              int
	isIndex            bool
}

func locatedError(format func(path string) error) *readError {
	return &readError{format: format}
}

// syntaxError is a syntax error of the decoder at the value being read.
func syntaxError(err error) *readError {
	var serr *jsontext.SyntacticError
	if errors.As(err, &serr) && serr.Err != nil {
		err = serr.Err
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return locatedError(func(path string) error {
		if path == "" {
			return fmt.Errorf("not JSON: %w", err)
		}
		return fmt.Errorf("%s: not JSON: %w", path, err)
	})
}

// in adds the step from the value's parent to the value.
func (e *readError) in(s step) *readError {
	e.steps = append(e.steps, s)
	return e
}

// resolve returns the error with the path of the value at fault.
func (e *readError) resolve(data []byte) error {
	path := ""
	for i := len(e.steps) - 1; i >= 0; i-- {
		s := e.steps[i]
		if s.isIndex {
			path = JoinIndex(path, s.index)
			continue
		}
		name, err := jsontext.AppendUnquote(nil, data[s.nameStart:s.nameEnd])
		if err != nil { // the decoder has read the name
			return err
		}
		path = JoinKey(path, string(name))
	}
	return e.format(path)
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
