package provenance

import (
	"encoding/json"
	"fmt"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// validateInToto parses provenance.json with the in-toto attestation
// library's protobuf types and runs their Validate methods, on the
// Statement and on the SLSA Provenance v1 predicate. Field names the
// protobuf schemas do not know are errors too.
//
// The predicate is parsed straight into the Provenance message rather than
// through the Statement's generic Struct (which the library would then need
// marshalled and parsed again): the checks are the same and the cost half.
func validateInToto(data []byte) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return fmt.Errorf("in-toto Statement does not parse: %w", err)
	}
	pred, ok := top["predicate"]
	if !ok {
		return fmt.Errorf("in-toto Statement is not valid: %w", intoto.ErrPredicateRequired)
	}
	top["predicate"] = json.RawMessage(`{}`)
	envelope, err := json.Marshal(top)
	if err != nil {
		return err
	}
	var st intoto.Statement
	if err := protojson.Unmarshal(envelope, &st); err != nil {
		return fmt.Errorf("in-toto Statement does not parse: %w", err)
	}
	if err := st.Validate(); err != nil {
		return fmt.Errorf("in-toto Statement is not valid: %w", err)
	}
	if st.GetPredicateType() != PredicateType {
		return fmt.Errorf("predicateType: %q, want %q", st.GetPredicateType(), PredicateType)
	}
	var p slsa.Provenance
	if err := protojson.Unmarshal(pred, &p); err != nil {
		return fmt.Errorf("SLSA Provenance v1 predicate does not parse: %w", err)
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("SLSA Provenance v1 predicate is not valid: %w", err)
	}
	return nil
}

// ValidateInToto checks any provenance document, Kettle's or another
// tool's, as the in-toto attestation library does: an in-toto Statement v1
// whose predicate is SLSA Provenance v1, each passing its Validate method.
// DecodeStatement checks Kettle's own provenance further.
func ValidateInToto(data []byte) error { return validateInToto(data) }
