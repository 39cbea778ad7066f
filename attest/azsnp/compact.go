package azsnp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/kettle-build/kettle/internal/strictjson"
)

// MaxJSONDepth bounds the nesting CompactJSON accepts: the limit of every
// JSON document Kettle reads.
const MaxJSONDepth = strictjson.MaxDepth

// CompactJSON re-serialises one JSON document without white space, keeping
// the members of every object in the order the document gives them. Strings
// are written as serde_json (the Rust library the foreign tool uses) writes
// them: '"' and '\' escaped, the control characters as \b \f \n \r \t or
// \u00xx, everything else as UTF-8, unescaped. Numbers are copied as
// written (serde_json writes integers the same way, but rewrites fractions
// and exponents: provenance documents hold none); a number beyond the range
// of a 64-bit float is refused, as serde_json refuses it. A document that
// is not valid UTF-8, has an object with a member twice, nests deeper than
// MaxJSONDepth or is followed by anything but white space is refused: the
// document must pass strictjson.Check.
//
// encoding/json cannot do this: it reorders map keys and escapes <, > and &;
// json.Compact keeps the document's escapes, which serde_json does not.
func CompactJSON(doc []byte) ([]byte, error) {
	if err := strictjson.Check(doc); err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var out bytes.Buffer
	if err := compactValue(d, &out, ""); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// compactValue writes the next value of a document strictjson.Check has
// accepted, so that its nesting is bounded.
func compactValue(d *json.Decoder, out *bytes.Buffer, path string) error {
	tok, err := d.Token()
	if err != nil {
		return fmt.Errorf("%s: %w", pathOrTop(path), err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			out.WriteByte('{')
			for i := 0; d.More(); i++ {
				ktok, err := d.Token()
				if err != nil {
					return fmt.Errorf("%s: %w", pathOrTop(path), err)
				}
				k, _ := ktok.(string) // the decoder allows only strings here
				if i > 0 {
					out.WriteByte(',')
				}
				writeString(out, k)
				out.WriteByte(':')
				if err := compactValue(d, out, strictjson.JoinKey(path, k)); err != nil {
					return err
				}
			}
			out.WriteByte('}')
		case '[':
			out.WriteByte('[')
			for i := 0; d.More(); i++ {
				if i > 0 {
					out.WriteByte(',')
				}
				if err := compactValue(d, out, strictjson.JoinIndex(path, i)); err != nil {
					return err
				}
			}
			out.WriteByte(']')
		default: // the decoder returns closing delimiters only after More is false
			return fmt.Errorf("%s: unexpected %v", pathOrTop(path), t)
		}
		if _, err := d.Token(); err != nil { // the closing delimiter
			return fmt.Errorf("%s: %w", pathOrTop(path), err)
		}
	case string:
		writeString(out, t)
	case json.Number:
		out.WriteString(t.String())
	case bool:
		out.WriteString(strconv.FormatBool(t))
	case nil:
		out.WriteString("null")
	}
	return nil
}

// writeString writes s as serde_json's compact formatter does.
func writeString(out *bytes.Buffer, s string) {
	const hexDigits = "0123456789abcdef"
	out.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			out.WriteString(`\"`)
		case c == '\\':
			out.WriteString(`\\`)
		case c == '\b':
			out.WriteString(`\b`)
		case c == '\f':
			out.WriteString(`\f`)
		case c == '\n':
			out.WriteString(`\n`)
		case c == '\r':
			out.WriteString(`\r`)
		case c == '\t':
			out.WriteString(`\t`)
		case c < 0x20:
			out.WriteString(`\u00`)
			out.WriteByte(hexDigits[c>>4])
			out.WriteByte(hexDigits[c&0xf])
		default:
			out.WriteByte(c)
		}
	}
	out.WriteByte('"')
}

func pathOrTop(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}
