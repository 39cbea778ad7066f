package provenance

import (
	"fmt"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// validateInToto parses provenance.json with the in-toto attestation
// library's protobuf types and runs their Validate methods, on the
// Statement and on the SLSA Provenance v1 predicate. Field names the
// protobuf schema does not know are errors too.
func validateInToto(data []byte) error {
	var st intoto.Statement
	if err := protojson.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("in-toto Statement does not parse: %w", err)
	}
	if err := st.Validate(); err != nil {
		return fmt.Errorf("in-toto Statement is not valid: %w", err)
	}
	if st.GetPredicateType() != PredicateType {
		return fmt.Errorf("predicateType: %q, want %q", st.GetPredicateType(), PredicateType)
	}
	pred, err := protojson.Marshal(st.GetPredicate())
	if err != nil {
		return fmt.Errorf("predicate: %w", err)
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
