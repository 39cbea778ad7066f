package azsnp

import (
	"bytes"
	"crypto/sha256"
	"fmt"
)

// Binding names how a quote's qualifying data binds a provenance document.
type Binding string

// The bindings.
const (
	// BindingKettle: extraData = SHA-256(provenance.json bytes as written)
	// ‖ nonce (64 bytes), as for every Kettle platform's REPORT_DATA.
	BindingKettle Binding = "kettle"
	// BindingCompactJSON: extraData = SHA-256 of the provenance
	// re-serialised as compact JSON in its own key order (CompactJSON), not
	// of the file's bytes; no nonce. This is how the foreign attested-build
	// tool (github.com/lunal-dev/kettle) binds its bundles.
	BindingCompactJSON Binding = "compact-json"
)

// KettleBinding returns the qualifying data of Kettle's own az-snp quotes.
func KettleBinding(provenance []byte, nonce [32]byte) []byte {
	sum := sha256.Sum256(provenance)
	return append(sum[:], nonce[:]...)
}

// ForeignBinding returns the qualifying data of the foreign tool's quotes:
// the SHA-256 of CompactJSON(provenance).
func ForeignBinding(provenance []byte) ([]byte, error) {
	compact, err := CompactJSON(provenance)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(compact)
	return sum[:], nil
}

// CheckBinding checks that the verified quote's qualifying data is the
// binding b of provenance (and nonce, for BindingKettle). The error is a
// *StepError of StepBinding.
func CheckBinding(c *Claims, b Binding, provenance []byte, nonce [32]byte) error {
	var want []byte
	switch b {
	case BindingKettle:
		want = KettleBinding(provenance, nonce)
	case BindingCompactJSON:
		var err error
		if want, err = ForeignBinding(provenance); err != nil {
			return stepError(StepBinding, fmt.Errorf("provenance: %w", err))
		}
	default:
		return stepError(StepBinding, fmt.Errorf("unknown binding %q", b))
	}
	if !bytes.Equal(c.ExtraData, want) {
		what := "SHA-256(provenance.json) ‖ nonce"
		if b == BindingCompactJSON {
			what = "SHA-256 of the provenance re-serialised as compact JSON in its own key order"
		}
		return stepError(StepBinding, fmt.Errorf("extraData is %x, want %s = %x", c.ExtraData, what, want))
	}
	return nil
}
