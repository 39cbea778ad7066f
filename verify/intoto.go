package verify

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	intoto "github.com/in-toto/attestation/go/v1"

	"github.com/kettle-build/kettle/provenance"
)

// Warning is a finding that does not fail verification (unless --strict):
// for a foreign provenance, a field the in-toto attestation library would
// refuse, though the hardware binds the document as it is.
type Warning struct {
	Step  Step   `json:"step"`
	Field string `json:"field,omitempty"`
	// Message says what is wrong with the field.
	Message string `json:"message"`
}

func (w Warning) String() string {
	if w.Field == "" {
		return w.Message
	}
	return w.Field + ": " + w.Message
}

// inTotoFindings returns, field by field, what the in-toto attestation
// library refuses in the provenance document data: each digest of a subject,
// resolved dependency or byproduct that its ResourceDescriptor.Validate
// rejects, then, with those digests set aside, whatever the library still
// refuses of the whole Statement.
func inTotoFindings(data []byte) []Warning {
	if provenance.ValidateInToto(data) == nil {
		return nil
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return []Warning{{Step: StepProvenance, Message: "not JSON: " + err.Error()}}
	}
	var out []Warning
	check := func(path string, list any) {
		items, _ := list.([]any)
		for i, it := range items {
			desc, ok := it.(map[string]any)
			if !ok {
				continue
			}
			out = append(out, descriptorFindings(fmt.Sprintf("%s[%d]", path, i), desc)...)
		}
	}
	check("subject", doc["subject"])
	if pred, ok := doc["predicate"].(map[string]any); ok {
		if bd, ok := pred["buildDefinition"].(map[string]any); ok {
			check("predicate.buildDefinition.resolvedDependencies", bd["resolvedDependencies"])
		}
		if rd, ok := pred["runDetails"].(map[string]any); ok {
			check("predicate.runDetails.byproducts", rd["byproducts"])
		}
	}
	// The digests found wrong were replaced by valid ones: what the library
	// still refuses is another fault.
	repaired, err := json.Marshal(doc)
	if err == nil {
		err = provenance.ValidateInToto(repaired)
	}
	if err != nil {
		out = append(out, Warning{Step: StepProvenance, Message: "in-toto attestation library: " + err.Error()})
	}
	return out
}

// descriptorFindings checks one ResourceDescriptor's digests one by one
// with the library's own rules, replacing each rejected value in desc by a
// valid one of the same algorithm so that later checks see past it.
func descriptorFindings(path string, desc map[string]any) []Warning {
	digest, ok := desc["digest"].(map[string]any)
	if !ok {
		return nil
	}
	var out []Warning
	for _, alg := range slices.Sorted(maps.Keys(digest)) {
		value, ok := digest[alg].(string)
		if !ok {
			continue
		}
		rd := &intoto.ResourceDescriptor{Name: "x", Digest: map[string]string{alg: value}}
		err := rd.Validate()
		if err == nil {
			continue
		}
		field := path + ".digest." + alg
		msg := err.Error()
		switch {
		case errors.Is(err, intoto.ErrInvalidDigestEncoding) && isBase64(value):
			msg = "base64, in-toto requires hex"
		case errors.Is(err, intoto.ErrInvalidDigestEncoding):
			msg = "not hex, as in-toto requires"
		case errors.Is(err, intoto.ErrIncorrectDigestLength):
			msg = strings.TrimPrefix(msg, intoto.ErrIncorrectDigestLength.Error()+": ")
			msg = "wrong length for " + alg + ": " + msg
		}
		out = append(out, Warning{Step: StepProvenance, Field: field, Message: msg})
		delete(digest, alg)
	}
	if len(digest) == 0 && len(out) > 0 {
		// A descriptor needs a name, a URI or a digest: keep one valid
		// digest so that the repaired document faults nowhere else.
		digest["sha256"] = strings.Repeat("00", 32)
	}
	return out
}

func isBase64(s string) bool {
	_, err := base64.StdEncoding.DecodeString(s)
	return err == nil && s != ""
}
