package strictjson

// Kind is the type of a JSON value.
type Kind byte

// The kinds of JSON value. The zero Kind is Null.
const (
	Null Kind = iota
	Bool
	Number
	String
	Array
	Object
)

// String returns the kind's name, such as "number".
func (k Kind) String() string {
	switch k {
	case Null:
		return "null"
	case Bool:
		return "boolean"
	case Number:
		return "number"
	case String:
		return "string"
	case Array:
		return "array"
	case Object:
		return "object"
	}
	return "invalid kind"
}

// Value is one JSON value of a document Parse has read. The zero Value is
// null.
type Value struct {
	kind Kind
	text string
	// An array's elements; an object's member names (as strings) and
	// values, name before value, in document order.
	elems []Value
}

// Kind returns the value's kind.
func (v Value) Kind() Kind { return v.kind }

// Text returns a string's contents, unescaped; a number as it is written;
// "true" or "false" for a boolean; and "" for the other kinds.
func (v Value) Text() string { return v.text }

// Len returns the number of elements of an array or members of an object,
// and 0 for the other kinds.
func (v Value) Len() int {
	if v.kind == Object {
		return len(v.elems) / 2
	}
	return len(v.elems)
}

// Elem returns element i of an array, or the value of member i of an
// object; it panics if i is out of range, as indexing a slice does.
func (v Value) Elem(i int) Value {
	if v.kind == Object {
		return v.elems[2*i+1]
	}
	return v.elems[i]
}

// Name returns the name of member i of an object, in document order. Names
// are unique. It panics if v is not an object or i is out of range.
func (v Value) Name(i int) string {
	if v.kind != Object {
		panic("strictjson: Name of a " + v.kind.String())
	}
	return v.elems[2*i].text
}
