package strictjson

import (
	"bytes"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
)

// scanner builds the tree of a document that jsontext has validated, and
// checks the depth and number limits, which jsontext does not. It is
// hand-written because reading the document again through jsontext's token
// API costs twice as much as jsontext's validation: the syntax being known
// to be right, a scan needs only to find where each value ends.
type scanner struct {
	builder
	data []byte
	pos  int
}

// value scans the value at s.pos, nested in depth arrays and objects. It
// reports false for a value beyond MaxDepth or a number beyond the range of
// a 64-bit float.
func (s *scanner) value(depth int) (Value, bool) {
	s.skipSpace()
	switch c := s.data[s.pos]; c {
	case '{', '[':
		if depth+1 > MaxDepth {
			return Value{}, false
		}
		s.pos++
		return s.container(c, depth+1)
	case '"':
		text, ok := s.str()
		return Value{kind: String, text: text}, ok
	case 't':
		s.pos += len("true")
		return Value{kind: Bool, text: "true"}, true
	case 'f':
		s.pos += len("false")
		return Value{kind: Bool, text: "false"}, true
	case 'n':
		s.pos += len("null")
		return Value{kind: Null}, true
	}
	return s.number()
}

// container scans the members of an object or the elements of an array
// whose opening delimiter open has been scanned.
func (s *scanner) container(open byte, depth int) (Value, bool) {
	base := len(s.stack)
	defer func() { s.stack = s.stack[:base] }()
	end := byte(']')
	if open == '{' {
		end = '}'
	}
	for {
		s.skipSpace()
		switch s.data[s.pos] {
		case end:
			s.pos++
			if !s.build {
				return Value{}, true
			}
			kind := Array
			if open == '{' {
				kind = Object
			}
			return Value{kind: kind, elems: s.keep(s.stack[base:])}, true
		case ',':
			s.pos++
			s.skipSpace()
		}
		if open == '{' {
			key, ok := s.str()
			if !ok {
				return Value{}, false
			}
			if s.build {
				s.stack = append(s.stack, Value{kind: String, text: key})
			}
			s.skipSpace()
			s.pos++ // the ':'
		}
		v, ok := s.value(depth)
		if !ok {
			return Value{}, false
		}
		if s.build {
			s.stack = append(s.stack, v)
		}
	}
}

// str scans the string at s.pos and returns its contents.
func (s *scanner) str() (string, bool) {
	start := s.pos
	n := quotedLen(s.data[start:])
	s.pos += n
	if !s.build {
		return "", true
	}
	raw := s.data[start:s.pos]
	if bytes.IndexByte(raw, '\\') < 0 {
		return s.src[start+1 : s.pos-1], true
	}
	b, err := jsontext.AppendUnquote(nil, raw)
	return string(b), err == nil
}

// number scans the number at s.pos.
func (s *scanner) number() (Value, bool) {
	start := s.pos
	for s.pos < len(s.data) && isNumberByte(s.data[s.pos]) {
		s.pos++
	}
	raw := s.data[start:s.pos]
	// Without an exponent, a number of at most 300 digits is below 1e300.
	if len(raw) > 300 || bytes.ContainsAny(raw, "eE") {
		if _, err := strconv.ParseFloat(string(raw), 64); err != nil {
			return Value{}, false
		}
	}
	if !s.build {
		return Value{}, true
	}
	return Value{kind: Number, text: s.src[start:s.pos]}, true
}

func isNumberByte(c byte) bool {
	return '0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\r', '\n':
			s.pos++
		default:
			return
		}
	}
}

// EqualCompact reports whether compact is what json.Compact makes of data,
// a document Check accepts: its tokens as they are written, without the
// white space between them. Comparing as it goes, it costs a fraction of
// compacting a copy first.
func EqualCompact(data, compact []byte) bool {
	j := 0
	for i := 0; i < len(data); {
		c := data[i]
		switch {
		case c == ' ' || c == '\n' || c == '\t' || c == '\r':
			i++
		case c == '"':
			n := quotedLen(data[i:])
			if n > len(compact)-j || string(data[i:i+n]) != string(compact[j:j+n]) {
				return false
			}
			i, j = i+n, j+n
		case j == len(compact) || compact[j] != c:
			return false
		default:
			i, j = i+1, j+1
		}
	}
	return j == len(compact)
}

// quotedLen returns the length of the JSON string at the start of data,
// quotes included, or len(data) if it does not end.
func quotedLen(data []byte) int {
	for i := 1; i < len(data); {
		end := bytes.IndexByte(data[i:], '"')
		if end < 0 {
			return len(data)
		}
		esc := bytes.IndexByte(data[i:i+end], '\\')
		if esc < 0 {
			return i + end + 1
		}
		i += esc + 2 // past the backslash and the character it escapes
	}
	return len(data)
}
