package provenance

import (
	"encoding/json"
	"fmt"
	"time"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
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
	if err := validateStatementMessage(&st); err != nil {
		return err
	}
	var p slsa.Provenance
	if err := protojson.Unmarshal(pred, &p); err != nil {
		return fmt.Errorf("SLSA Provenance v1 predicate does not parse: %w", err)
	}
	return validateProvenanceMessage(&p)
}

// validateMessages runs the in-toto library's Validate methods on a
// Statement and its SLSA Provenance v1 predicate.
func validateMessages(st *intoto.Statement, p *slsa.Provenance) error {
	if err := validateStatementMessage(st); err != nil {
		return err
	}
	return validateProvenanceMessage(p)
}

func validateProvenanceMessage(p *slsa.Provenance) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("SLSA Provenance v1 predicate is not valid: %w", err)
	}
	return nil
}

func validateStatementMessage(st *intoto.Statement) error {
	if err := st.Validate(); err != nil {
		return fmt.Errorf("in-toto Statement is not valid: %w", err)
	}
	if st.GetPredicateType() != PredicateType {
		return fmt.Errorf("predicateType: %q, want %q", st.GetPredicateType(), PredicateType)
	}
	return nil
}

// validateInTotoMessages runs the in-toto library's Validate methods, as
// validateInToto does, on the messages of a statement that DecodeStatement
// has read: the same values the document holds, without parsing it a third
// time. Parsing it with protojson would find nothing more, since every
// field the decoder accepts is one the protobuf schemas know, of the type
// they give it.
func validateInTotoMessages(st *statementJSON) error {
	stmt, prov, err := inTotoMessages(st)
	if err != nil {
		return err
	}
	return validateMessages(stmt, prov)
}

// inTotoMessages returns the in-toto library's messages of a statement,
// with the values protojson would give them: the predicate goes into the
// Provenance message, the Statement's own predicate is an empty object (as
// validateInToto parses it). The annotations of the resolved dependencies,
// thousands of them in a large closure, which no Validate method reads, are
// left out.
func inTotoMessages(st *statementJSON) (*intoto.Statement, *slsa.Provenance, error) {
	stmt := &intoto.Statement{
		Type:          st.Type,
		Subject:       make([]*intoto.ResourceDescriptor, 0, len(st.Subject)),
		PredicateType: st.PredicateType,
		Predicate:     &structpb.Struct{},
	}
	for _, s := range st.Subject {
		stmt.Subject = append(stmt.Subject, &intoto.ResourceDescriptor{
			Name:   s.Name,
			Digest: map[string]string{"sha256": s.Digest.SHA256},
			Annotations: &structpb.Struct{Fields: map[string]*structpb.Value{
				"narHash": structpb.NewStringValue(s.Annotations.NarHash),
				"narSize": structpb.NewNumberValue(float64(s.Annotations.NarSize)),
				"output":  structpb.NewStringValue(s.Annotations.Output),
			}},
		})
	}

	bd := st.Predicate.BuildDefinition
	ext := map[string]*structpb.Value{
		"flake":     structpb.NewStringValue(bd.ExternalParameters.Flake),
		"attribute": structpb.NewStringValue(bd.ExternalParameters.Attribute),
	}
	if s := bd.ExternalParameters.System; s != "" {
		ext["system"] = structpb.NewStringValue(s)
	}
	in := bd.InternalParameters
	internal := map[string]*structpb.Value{
		"manifestVersion":   structpb.NewNumberValue(float64(in.ManifestVersion)),
		"manifestRoot":      structpb.NewStringValue(in.ManifestRoot),
		"manifestLeafCount": structpb.NewNumberValue(float64(in.ManifestLeafCount)),
	}
	if in.NixVersion != "" {
		internal["nixVersion"] = structpb.NewStringValue(in.NixVersion)
	}
	if in.KettleVersion != "" {
		internal["kettleVersion"] = structpb.NewStringValue(in.KettleVersion)
	}
	deps := make([]*intoto.ResourceDescriptor, len(bd.ResolvedDependencies))
	descs := make([]intoto.ResourceDescriptor, len(deps)) // one allocation, not thousands
	for i, r := range bd.ResolvedDependencies {
		d := &descs[i]
		d.Name, d.Uri, d.Digest = r.Name, r.URI, map[string]string{"sha256": r.Digest.SHA256}
		deps[i] = d
	}

	rd := st.Predicate.RunDetails
	prov := &slsa.Provenance{
		BuildDefinition: &slsa.BuildDefinition{
			BuildType:            bd.BuildType,
			ExternalParameters:   &structpb.Struct{Fields: ext},
			InternalParameters:   &structpb.Struct{Fields: internal},
			ResolvedDependencies: deps,
		},
		RunDetails: &slsa.RunDetails{
			Builder: &slsa.Builder{Id: rd.Builder.ID, Version: rd.Builder.Version},
		},
	}
	if md := rd.Metadata; md != nil {
		m := &slsa.BuildMetadata{InvocationId: md.InvocationID}
		var err error
		if m.StartedOn, err = timestampMessage(md.StartedOn); err != nil {
			return nil, nil, fmt.Errorf("predicate.runDetails.metadata.startedOn: %w", err)
		}
		if m.FinishedOn, err = timestampMessage(md.FinishedOn); err != nil {
			return nil, nil, fmt.Errorf("predicate.runDetails.metadata.finishedOn: %w", err)
		}
		prov.RunDetails.Metadata = m
	}
	return stmt, prov, nil
}

// timestampMessage returns the Timestamp message of an RFC 3339 time, nil
// for "".
func timestampMessage(s string) (*timestamppb.Timestamp, error) {
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, err
	}
	return timestamppb.New(t), nil
}

// ValidateInToto checks any provenance document, Kettle's or another
// tool's, as the in-toto attestation library does: an in-toto Statement v1
// whose predicate is SLSA Provenance v1, each passing its Validate method.
// DecodeStatement checks Kettle's own provenance further.
func ValidateInToto(data []byte) error { return validateInToto(data) }
