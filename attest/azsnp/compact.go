package azsnp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// MaxJSONDepth bounds the nesting CompactJSON accepts.
const MaxJSONDepth = 128

// CompactJSON re-serialises one JSON document without white space, keeping
// the members of every object in the order the document gives them. Strings
// are written as serde_json (the Rust library the foreign tool uses) writes
// them: '"' and '\' escaped, the control characters as \b \f \n \r \t or
// \u00xx, everything else as UTF-8, unescaped. Numbers are copied as
// written (serde_json writes integers the same way, but rewrites fractions
// and exponents: provenance documents hold none); a number beyond the range
// of a 64-bit float is refused, as serde_json refuses it. A document that
// is not valid UTF-8, has an object with a member twice, nests deeper than
// MaxJSONDepth or is followed by anything but white space is refused.
//
// encoding/json cannot do this: it reorders map keys and escapes <, > and &;
// json.Compact keeps the document's escapes, which serde_json does not.
func CompactJSON(doc []byte) ([]byte, error) {
	if !utf8.Valid(doc) {
		return nil, errors.New("JSON: not valid UTF-8")
	}
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var out bytes.Buffer
	if err := compactValue(d, &out, "$", 0); err != nil {
		return nil, err
	}
	if tok, err := d.Token(); err != io.EOF {
		if err != nil {
			return nil, fmt.Errorf("JSON: after the document: %w", err)
		}
		return nil, fmt.Errorf("JSON: trailing data after the document (%v)", tok)
	}
	return out.Bytes(), nil
}

func compactValue(d *json.Decoder, out *bytes.Buffer, path string, depth int) error {
	if depth > MaxJSONDepth {
		return fmt.Errorf("JSON: %s: nested deeper than %d", path, MaxJSONDepth)
	}
	tok, err := d.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("JSON: %s: %w", path, err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			out.WriteByte('{')
			seen := map[string]bool{}
			for i := 0; d.More(); i++ {
				ktok, err := d.Token()
				if err != nil {
					return fmt.Errorf("JSON: %s: %w", path, err)
				}
				k := ktok.(string) // the decoder allows only strings here
				if seen[k] {
					return fmt.Errorf("JSON: %s: member %q given twice", path, k)
				}
				seen[k] = true
				if i > 0 {
					out.WriteByte(',')
				}
				writeString(out, k)
				out.WriteByte(':')
				if err := compactValue(d, out, path+"."+k, depth+1); err != nil {
					return err
				}
			}
			if _, err := d.Token(); err != nil {
				return fmt.Errorf("JSON: %s: %w", path, err)
			}
			out.WriteByte('}')
		case '[':
			out.WriteByte('[')
			for i := 0; d.More(); i++ {
				if i > 0 {
					out.WriteByte(',')
				}
				if err := compactValue(d, out, path+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
					return err
				}
			}
			if _, err := d.Token(); err != nil {
				return fmt.Errorf("JSON: %s: %w", path, err)
			}
			out.WriteByte(']')
		default: // the decoder returns closing delimiters only after More is false
			return fmt.Errorf("JSON: %s: unexpected %v", path, t)
		}
	case string:
		writeString(out, t)
	case json.Number:
		// serde_json reads numbers into 64-bit integers or floats and
		// refuses what overflows a float.
		if _, err := strconv.ParseFloat(t.String(), 64); err != nil {
			return fmt.Errorf("JSON: %s: number %s is out of the range of a 64-bit float", path, t)
		}
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
