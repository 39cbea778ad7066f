package provenance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/kettle-build/kettle/internal/nixstore"
	"github.com/kettle-build/kettle/internal/strictjson"
)

// The type URIs of provenance.json.
const (
	StatementType = "https://in-toto.io/Statement/v1"
	PredicateType = "https://slsa.dev/provenance/v1"
	// BuildTypeNixFlakeV1 is the SLSA buildType of a Kettle build of a
	// flake output: externalParameters {flake, attribute, system},
	// internalParameters {manifestVersion, manifestRoot, manifestLeafCount,
	// nixVersion, kettleVersion}, and resolvedDependencies listing the
	// locked source, the flake inputs, every derivation and every
	// inputSrcs path, each annotated with its "kind".
	BuildTypeNixFlakeV1 = "https://github.com/kettle-build/kettle/buildtypes/nix-flake/v1"
)

// KindAnnotation is the annotation of each resolved dependency that says
// which list of BuildInfo it belongs to; callers may not set it.
const KindAnnotation = "kind"

// The values of KindAnnotation, in the order the dependencies are listed.
const (
	DependencySource     = "source"
	DependencyFlakeInput = "flake-input"
	DependencyDrv        = "drv"
	DependencySrc        = "src"
)

// Subject is one output of the build: a store path and the SHA-256 of its
// NAR serialisation.
type Subject struct {
	Name    string // the store path
	Output  string // the output name, such as "out"
	SHA256  [32]byte
	NarSize uint64
}

// Dependency is one resolved dependency of the build. Annotations are free
// strings; Nix's own forms of a hash (SRI "sha256-…", or "sha256:<base-32>")
// may go under "narHash", and are checked against SHA256.
type Dependency struct {
	Name        string
	URI         string
	SHA256      [32]byte
	Annotations map[string]string
}

// BuildInfo is everything provenance.json records.
type BuildInfo struct {
	// What the user asked for (externalParameters).
	FlakeRef, Attribute, System string

	// Source is the locked flake source: URI = locked URL, SHA256 = the
	// narHash digest, Annotations["narHash"] = the SRI form and
	// Annotations["rev"] = the revision, when there is one.
	Source      Dependency
	FlakeInputs []Dependency // one per locked input of flake.lock
	Derivations []Dependency // each .drv: Name = store path, SHA256 = of the file's bytes
	Sources     []Dependency // each inputSrcs path: SHA256 = of its NAR

	Subjects []Subject

	ManifestRoot      [32]byte
	ManifestLeafCount int
	ManifestVersion   int

	NixVersion, KettleVersion string

	BuilderID      string            // runDetails.builder.id
	BuilderVersion map[string]string // runDetails.builder.version

	// runDetails.metadata; zero values are left out. Times are recorded
	// in UTC to the second.
	InvocationID          string
	StartedOn, FinishedOn time.Time
}

// Statement is a decoded provenance.json.
type Statement struct {
	BuildInfo
	BuildType string
	// Raw is the exact bytes that were decoded; the attestation binds
	// their SHA-256.
	Raw []byte
}

// Digest returns the SHA-256 of the statement's exact bytes.
func (s *Statement) Digest() [32]byte { return sha256.Sum256(s.Raw) }

// The JSON of provenance.json. Struct field order is the order written.
type statementJSON struct {
	Type          string        `json:"_type"`
	Subject       []subjectJSON `json:"subject"`
	PredicateType string        `json:"predicateType"`
	Predicate     predicateJSON `json:"predicate"`
}

type subjectJSON struct {
	Name        string             `json:"name"`
	Digest      digestJSON         `json:"digest"`
	Annotations subjectAnnotations `json:"annotations"`
}

type digestJSON struct {
	SHA256 string `json:"sha256"`
}

type subjectAnnotations struct {
	NarHash string `json:"narHash"`
	NarSize uint64 `json:"narSize"`
	Output  string `json:"output"`
}

type predicateJSON struct {
	BuildDefinition buildDefinitionJSON `json:"buildDefinition"`
	RunDetails      runDetailsJSON      `json:"runDetails"`
}

type buildDefinitionJSON struct {
	BuildType            string                 `json:"buildType"`
	ExternalParameters   externalParametersJSON `json:"externalParameters"`
	InternalParameters   internalParametersJSON `json:"internalParameters"`
	ResolvedDependencies []resourceJSON         `json:"resolvedDependencies"`
}

type externalParametersJSON struct {
	Flake     string `json:"flake"`
	Attribute string `json:"attribute"`
	System    string `json:"system,omitempty"`
}

type internalParametersJSON struct {
	ManifestVersion   int    `json:"manifestVersion"`
	ManifestRoot      string `json:"manifestRoot"`
	ManifestLeafCount int    `json:"manifestLeafCount"`
	NixVersion        string `json:"nixVersion,omitempty"`
	KettleVersion     string `json:"kettleVersion,omitempty"`
}

type resourceJSON struct {
	Name   string     `json:"name,omitempty"`
	URI    string     `json:"uri,omitempty"`
	Digest digestJSON `json:"digest"`
	// Annotations is a map[string]string, or a *kettleAnnotations that
	// encodes as the map would.
	Annotations any `json:"annotations"`
}

// kettleAnnotations are the annotations of a dependency that has, besides
// its kind, only the narHash and rev annotations Kettle writes, neither
// empty. encoding/json writes them as it writes the map of them, whose keys
// it sorts, at a fraction of the cost: provenance.json lists thousands.
type kettleAnnotations struct {
	Kind    string `json:"kind"`
	NarHash string `json:"narHash,omitempty"`
	Rev     string `json:"rev,omitempty"`
}

type runDetailsJSON struct {
	Builder  builderJSON   `json:"builder"`
	Metadata *metadataJSON `json:"metadata,omitempty"`
}

type builderJSON struct {
	ID      string            `json:"id"`
	Version map[string]string `json:"version,omitempty"`
}

type metadataJSON struct {
	InvocationID string `json:"invocationId,omitempty"`
	StartedOn    string `json:"startedOn,omitempty"`
	FinishedOn   string `json:"finishedOn,omitempty"`
}

// EncodeStatement returns provenance.json for a build: an in-toto Statement
// v1 with a SLSA Provenance v1 predicate, as deterministic bytes — fields in
// a fixed order, subjects and dependencies sorted, map keys sorted, times in
// RFC 3339 UTC, every digest lower-case hex, two-space indentation and a
// final newline. Equal BuildInfos give equal bytes whatever the order of
// their lists and maps. The result is checked with the in-toto attestation
// library's own Validate methods before it is returned.
func EncodeStatement(b BuildInfo) ([]byte, error) {
	st, err := statementFrom(b)
	if err != nil {
		return nil, err
	}
	data, err := encodeJSON(st)
	if err != nil {
		return nil, err
	}
	if err := validateInToto(data); err != nil {
		return nil, err
	}
	return data, nil
}

func statementFrom(b BuildInfo) (*statementJSON, error) {
	if b.FlakeRef == "" {
		return nil, errors.New("flake reference is empty")
	}
	if b.Attribute == "" {
		return nil, errors.New("attribute is empty")
	}
	if !knownManifestVersion(b.ManifestVersion) {
		return nil, fmt.Errorf("manifest version %d, want %d or %d", b.ManifestVersion, ManifestV1, ManifestV2)
	}
	if b.ManifestLeafCount <= 0 {
		return nil, fmt.Errorf("manifest leaf count %d, want at least 1", b.ManifestLeafCount)
	}
	if b.ManifestRoot == ([32]byte{}) {
		return nil, errors.New("manifest root is not set")
	}
	if err := checkBuilderID(b.BuilderID); err != nil {
		return nil, err
	}
	for k, v := range b.BuilderVersion {
		if k == "" || v == "" {
			return nil, fmt.Errorf("builder version %q: %q: empty key or value", k, v)
		}
	}

	subjects, err := subjectsJSON(b.Subjects)
	if err != nil {
		return nil, err
	}

	if b.Source.URI == "" {
		return nil, errors.New("source: locked URL (URI) is empty")
	}
	deps, err := resourcesJSON(DependencySource, []Dependency{b.Source})
	if err != nil {
		return nil, err
	}
	for _, g := range []struct {
		kind string
		deps []Dependency
	}{
		{DependencyFlakeInput, b.FlakeInputs},
		{DependencyDrv, b.Derivations},
		{DependencySrc, b.Sources},
	} {
		r, err := resourcesJSON(g.kind, g.deps)
		if err != nil {
			return nil, err
		}
		deps = append(deps, r...)
	}

	var md *metadataJSON
	if b.InvocationID != "" || !b.StartedOn.IsZero() || !b.FinishedOn.IsZero() {
		md = &metadataJSON{InvocationID: b.InvocationID}
		if md.StartedOn, err = formatTime("startedOn", b.StartedOn); err != nil {
			return nil, err
		}
		if md.FinishedOn, err = formatTime("finishedOn", b.FinishedOn); err != nil {
			return nil, err
		}
		if !b.StartedOn.IsZero() && !b.FinishedOn.IsZero() && b.FinishedOn.Before(b.StartedOn) {
			return nil, fmt.Errorf("finishedOn %s is before startedOn %s", md.FinishedOn, md.StartedOn)
		}
	}

	return &statementJSON{
		Type:          StatementType,
		Subject:       subjects,
		PredicateType: PredicateType,
		Predicate: predicateJSON{
			BuildDefinition: buildDefinitionJSON{
				BuildType: BuildTypeNixFlakeV1,
				ExternalParameters: externalParametersJSON{
					Flake:     b.FlakeRef,
					Attribute: b.Attribute,
					System:    b.System,
				},
				InternalParameters: internalParametersJSON{
					ManifestVersion:   b.ManifestVersion,
					ManifestRoot:      hex.EncodeToString(b.ManifestRoot[:]),
					ManifestLeafCount: b.ManifestLeafCount,
					NixVersion:        b.NixVersion,
					KettleVersion:     b.KettleVersion,
				},
				ResolvedDependencies: deps,
			},
			RunDetails: runDetailsJSON{
				Builder:  builderJSON{ID: b.BuilderID, Version: emptyToNil(b.BuilderVersion)},
				Metadata: md,
			},
		},
	}, nil
}

func subjectsJSON(subjects []Subject) ([]subjectJSON, error) {
	if len(subjects) == 0 {
		return nil, errors.New("no subjects")
	}
	sorted := append([]Subject(nil), subjects...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	out := make([]subjectJSON, 0, len(sorted))
	for i, s := range sorted {
		if err := nixstore.CheckPath(s.Name); err != nil {
			return nil, fmt.Errorf("subject %q: %w", s.Name, err)
		}
		if i > 0 && s.Name == sorted[i-1].Name {
			return nil, fmt.Errorf("subject %s is listed twice", s.Name)
		}
		if err := nixstore.CheckOutputName(s.Output); err != nil {
			return nil, fmt.Errorf("subject %s: output %w", s.Name, err)
		}
		if s.SHA256 == ([32]byte{}) {
			return nil, fmt.Errorf("subject %s: NAR SHA-256 is not set", s.Name)
		}
		if s.NarSize == 0 {
			return nil, fmt.Errorf("subject %s: NAR size is 0", s.Name)
		}
		out = append(out, subjectJSON{
			Name:   s.Name,
			Digest: digestJSON{SHA256: hex.EncodeToString(s.SHA256[:])},
			Annotations: subjectAnnotations{
				NarHash: sriSHA256(s.SHA256),
				NarSize: s.NarSize,
				Output:  s.Output,
			},
		})
	}
	return out, nil
}

// resourcesJSON sorts one group of dependencies and turns them into
// resource descriptors annotated with their kind.
func resourcesJSON(kind string, deps []Dependency) ([]resourceJSON, error) {
	out := make([]resourceJSON, 0, len(deps))
	for _, d := range deps {
		if d.Name == "" && d.URI == "" {
			return nil, fmt.Errorf("%s dependency with neither name nor URI", kind)
		}
		ann, err := dependencyAnnotations(kind, d)
		if err != nil {
			what := fmt.Sprintf("%s dependency %q", kind, d.Name)
			if d.Name == "" {
				what = fmt.Sprintf("%s dependency %q", kind, d.URI)
			}
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, resourceJSON{
			Name:        d.Name,
			URI:         d.URI,
			Digest:      digestJSON{SHA256: hex.EncodeToString(d.SHA256[:])},
			Annotations: ann,
		})
	}
	sort.Slice(out, func(i, j int) bool { return resourceLess(out[i], out[j]) })
	for i := 1; i < len(out); i++ {
		if out[i].Name == out[i-1].Name && out[i].URI == out[i-1].URI {
			return nil, fmt.Errorf("%s dependency %q is listed twice", kind, out[i].Name+out[i].URI)
		}
	}
	return out, nil
}

// dependencyAnnotations checks a dependency of a kind and returns its
// annotations with the kind's, as resourceJSON.Annotations holds them.
func dependencyAnnotations(kind string, d Dependency) (any, error) {
	if d.SHA256 == ([32]byte{}) {
		return nil, errors.New("SHA-256 is not set")
	}
	if d.URI != "" {
		if err := checkURL(d.URI); err != nil {
			return nil, err
		}
	}
	known := true // only a non-empty narHash and rev
	for k, v := range d.Annotations {
		switch {
		case k == KindAnnotation:
			return nil, fmt.Errorf("annotation %q is reserved", k)
		case k == "":
			return nil, errors.New("empty annotation key")
		case k == "narHash":
			if err := checkNixHash(v, d.SHA256); err != nil {
				return nil, fmt.Errorf("annotation narHash: %w", err)
			}
		case k != RevName:
			known = false
		}
		known = known && v != ""
	}
	if known {
		return &kettleAnnotations{Kind: kind, NarHash: d.Annotations["narHash"], Rev: d.Annotations[RevName]}, nil
	}
	ann := make(map[string]string, len(d.Annotations)+1)
	ann[KindAnnotation] = kind
	for k, v := range d.Annotations {
		ann[k] = v
	}
	return ann, nil
}

func resourceLess(a, b resourceJSON) bool {
	if a.Name != b.Name {
		return a.Name < b.Name
	}
	if a.URI != b.URI {
		return a.URI < b.URI
	}
	return a.Digest.SHA256 < b.Digest.SHA256
}

// checkNixHash accepts the SRI ("sha256-<base64>") and prefixed
// ("sha256:<nix32>", "sha256:<hex>", …) forms of d.
func checkNixHash(s string, d [32]byte) error {
	if !strings.HasPrefix(s, "sha256-") && !strings.HasPrefix(s, "sha256:") {
		return fmt.Errorf("%q is not a Nix sha256 hash (sha256-<base64> or sha256:<base-32>)", s)
	}
	got, err := nixstore.ParseSHA256(s)
	if err != nil {
		return err
	}
	if got != d {
		return fmt.Errorf("%q is not the digest %x", s, d)
	}
	return nil
}

// sriSHA256 is the SRI form Nix prints for a SHA-256, "sha256-<base64>".
func sriSHA256(d [32]byte) string { return nixstore.SRI("sha256", d[:]) }

func checkBuilderID(id string) error {
	if id == "" {
		return errors.New("builder ID is empty")
	}
	u, err := url.Parse(id)
	if err != nil || u.Scheme == "" || strings.ContainsAny(id, " \t\r\n") {
		return fmt.Errorf("builder ID %q is not a URI", id)
	}
	return nil
}

func formatTime(field string, t time.Time) (string, error) {
	if t.IsZero() {
		return "", nil
	}
	t = t.UTC()
	if y := t.Year(); y < 1 || y > 9999 {
		return "", fmt.Errorf("%s: year %d is outside 1..9999", field, y)
	}
	return t.Format(time.RFC3339), nil
}

func emptyToNil(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// DecodeStatement reads provenance.json strictly: it must be a single JSON
// object with no duplicate or unknown fields, the in-toto Statement v1 type,
// the SLSA Provenance v1 predicate type and Kettle's buildType; every digest
// must be lower-case hex SHA-256, the manifest parameters present, lists
// sorted as EncodeStatement sorts them, and the whole must pass the in-toto
// attestation library's Validate methods. Re-encoding the result gives the
// same JSON. Errors name the offending field, not the file: the caller
// says what it decoded.
func DecodeStatement(data []byte) (*Statement, error) {
	o, err := decodeObject(data)
	if err != nil {
		return nil, err
	}
	return decodeStatement(data, o, append([]byte(nil), data...))
}

// decodeStatement is DecodeStatement of data, whose top-level object is o;
// raw becomes the statement's Raw.
func decodeStatement(data []byte, o *jsonObject, raw []byte) (*Statement, error) {
	if err := wantString(o, "_type", StatementType); err != nil {
		return nil, err
	}
	if err := wantString(o, "predicateType", PredicateType); err != nil {
		return nil, err
	}
	var b BuildInfo
	rawSubjects, err := o.arr("subject")
	if err != nil {
		return nil, err
	}
	if rawSubjects.len() == 0 {
		return nil, errors.New("subject: empty")
	}
	for i := range rawSubjects.len() {
		so, err := rawSubjects.obj(i)
		if err != nil {
			return nil, err
		}
		s, err := decodeSubject(so)
		if err != nil {
			return nil, err
		}
		if i > 0 && s.Name <= b.Subjects[i-1].Name {
			return nil, fmt.Errorf("subject[%d]: %s is not after %s, want subjects sorted by name without duplicates", i, s.Name, b.Subjects[i-1].Name)
		}
		b.Subjects = append(b.Subjects, s)
	}
	pred, err := o.obj("predicate")
	if err != nil {
		return nil, err
	}
	if err := o.end(); err != nil {
		return nil, err
	}
	buildType, err := decodePredicate(pred, &b)
	if err != nil {
		return nil, err
	}

	// Re-encoding must give the same document: this catches what the field
	// checks let through, such as lists out of order or escaped strings.
	st, err := statementFrom(b)
	if err != nil {
		return nil, err
	}
	if err := sameAsCanonical(data, st); err != nil {
		return nil, err
	}
	if err := validateInTotoMessages(st); err != nil {
		return nil, err
	}
	return &Statement{BuildInfo: b, BuildType: buildType, Raw: raw}, nil
}

func decodeSubject(o *jsonObject) (Subject, error) {
	var s Subject
	var err error
	if s.Name, err = o.nonEmptyStr("name"); err != nil {
		return s, err
	}
	if err := nixstore.CheckPath(s.Name); err != nil {
		return s, fmt.Errorf("%s: %q: %w", o.field("name"), s.Name, err)
	}
	if s.SHA256, err = decodeDigest(o); err != nil {
		return s, err
	}
	ann, err := o.obj("annotations")
	if err != nil {
		return s, err
	}
	narHash, err := ann.str("narHash")
	if err != nil {
		return s, err
	}
	if narHash != sriSHA256(s.SHA256) {
		return s, fmt.Errorf("%s: %q is not the SRI form of digest.sha256 (%s)", ann.field("narHash"), narHash, sriSHA256(s.SHA256))
	}
	if s.NarSize, err = ann.uint("narSize"); err != nil {
		return s, err
	}
	if s.NarSize == 0 {
		return s, fmt.Errorf("%s: 0", ann.field("narSize"))
	}
	if s.Output, err = ann.nonEmptyStr("output"); err != nil {
		return s, err
	}
	if err := nixstore.CheckOutputName(s.Output); err != nil {
		return s, fmt.Errorf("%s: %q: %w", ann.field("output"), s.Output, err)
	}
	if err := ann.end(); err != nil {
		return s, err
	}
	return s, o.end()
}

// decodeDigest reads a digest object that must hold exactly a SHA-256.
func decodeDigest(o *jsonObject) ([32]byte, error) {
	var digest jsonObject
	d := &digest
	if err := o.objInto(d, "digest"); err != nil {
		return [32]byte{}, err
	}
	h, err := d.str("sha256")
	if err != nil {
		return [32]byte{}, err
	}
	sum, err := parseSHA256Hex(h)
	if err != nil {
		return sum, fmt.Errorf("%s: %w", d.field("sha256"), err)
	}
	if sum == ([32]byte{}) {
		return sum, fmt.Errorf("%s: all zero", d.field("sha256"))
	}
	return sum, d.end()
}

func decodePredicate(pred *jsonObject, b *BuildInfo) (string, error) {
	bd, err := pred.obj("buildDefinition")
	if err != nil {
		return "", err
	}
	buildType, err := bd.str("buildType")
	if err != nil {
		return "", err
	}
	if buildType != BuildTypeNixFlakeV1 {
		return "", fmt.Errorf("%s: %q, want %q", bd.field("buildType"), buildType, BuildTypeNixFlakeV1)
	}

	ext, err := bd.obj("externalParameters")
	if err != nil {
		return "", err
	}
	if b.FlakeRef, err = ext.nonEmptyStr("flake"); err != nil {
		return "", err
	}
	if b.Attribute, err = ext.nonEmptyStr("attribute"); err != nil {
		return "", err
	}
	if b.System, err = ext.optStr("system"); err != nil {
		return "", err
	}
	if err := ext.end(); err != nil {
		return "", err
	}

	in, err := bd.obj("internalParameters")
	if err != nil {
		return "", err
	}
	if b.ManifestVersion, err = in.int("manifestVersion"); err != nil {
		return "", err
	}
	if !knownManifestVersion(b.ManifestVersion) {
		return "", fmt.Errorf("%s: %d, want %d or %d", in.field("manifestVersion"), b.ManifestVersion, ManifestV1, ManifestV2)
	}
	rootHex, err := in.str("manifestRoot")
	if err != nil {
		return "", err
	}
	if b.ManifestRoot, err = parseSHA256Hex(rootHex); err != nil {
		return "", fmt.Errorf("%s: %w", in.field("manifestRoot"), err)
	}
	if b.ManifestLeafCount, err = in.int("manifestLeafCount"); err != nil {
		return "", err
	}
	if b.ManifestLeafCount == 0 {
		return "", fmt.Errorf("%s: 0", in.field("manifestLeafCount"))
	}
	if b.NixVersion, err = in.optStr("nixVersion"); err != nil {
		return "", err
	}
	if b.KettleVersion, err = in.optStr("kettleVersion"); err != nil {
		return "", err
	}
	if err := in.end(); err != nil {
		return "", err
	}

	if err := decodeDependencies(bd, b); err != nil {
		return "", err
	}
	if err := bd.end(); err != nil {
		return "", err
	}

	rd, err := pred.obj("runDetails")
	if err != nil {
		return "", err
	}
	builder, err := rd.obj("builder")
	if err != nil {
		return "", err
	}
	if b.BuilderID, err = builder.nonEmptyStr("id"); err != nil {
		return "", err
	}
	if err := checkBuilderID(b.BuilderID); err != nil {
		return "", fmt.Errorf("%s: %w", builder.field("id"), err)
	}
	if b.BuilderVersion, err = builder.optStrMap("version"); err != nil {
		return "", err
	}
	if err := builder.end(); err != nil {
		return "", err
	}
	md, err := rd.optObj("metadata")
	if err != nil {
		return "", err
	}
	if md != nil {
		if b.InvocationID, err = md.optStr("invocationId"); err != nil {
			return "", err
		}
		if b.StartedOn, err = decodeTime(md, "startedOn"); err != nil {
			return "", err
		}
		if b.FinishedOn, err = decodeTime(md, "finishedOn"); err != nil {
			return "", err
		}
		if err := md.end(); err != nil {
			return "", err
		}
	}
	if err := rd.end(); err != nil {
		return "", err
	}
	return buildType, pred.end()
}

func decodeDependencies(bd *jsonObject, b *BuildInfo) error {
	raw, err := bd.arr("resolvedDependencies")
	if err != nil {
		return err
	}
	last, sources := -1, 0
	var elem jsonObject // each element in turn
	o := &elem
	for i := range raw.len() {
		if err := raw.objInto(o, i); err != nil {
			return err
		}
		var d Dependency
		if d.Name, err = o.optStr("name"); err != nil {
			return err
		}
		if d.URI, err = o.optStr("uri"); err != nil {
			return err
		}
		if d.SHA256, err = decodeDigest(o); err != nil {
			return err
		}
		kind, ok, ann, err := o.optStrMapWithout("annotations", KindAnnotation)
		if err != nil {
			return err
		}
		if err := o.end(); err != nil {
			return err
		}
		rank := dependencyRank(kind)
		if !ok || rank < 0 {
			return fmt.Errorf("%s.annotations.%s: %q, want source, flake-input, drv or src", raw.path(i), KindAnnotation, kind)
		}
		if rank < last {
			return fmt.Errorf("%s: a %s dependency after the %s ones, want source, flake inputs, derivations, sources in that order", raw.path(i), kind, dependencyKind(last))
		}
		last = rank
		d.Annotations = ann
		switch kind {
		case DependencySource:
			sources++
			if sources > 1 {
				return fmt.Errorf("%s: a second source dependency", raw.path(i))
			}
			b.Source = d
		case DependencyFlakeInput:
			b.FlakeInputs = append(b.FlakeInputs, d)
		case DependencyDrv:
			b.Derivations = append(b.Derivations, d)
		case DependencySrc:
			b.Sources = append(b.Sources, d)
		}
	}
	if sources == 0 {
		return fmt.Errorf("%s: no source dependency", bd.field("resolvedDependencies"))
	}
	return nil
}

// dependencyRank is the position of a kind of dependency in the order
// resolvedDependencies lists them, or -1 for no kind of dependency.
func dependencyRank(kind string) int {
	switch kind {
	case DependencySource:
		return 0
	case DependencyFlakeInput:
		return 1
	case DependencyDrv:
		return 2
	case DependencySrc:
		return 3
	}
	return -1
}

func dependencyKind(rank int) string {
	return [...]string{DependencySource, DependencyFlakeInput, DependencyDrv, DependencySrc}[rank]
}

func decodeTime(o *jsonObject, key string) (time.Time, error) {
	s, err := o.optStr(key)
	if err != nil || s == "" {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil || t.UTC().Format(time.RFC3339) != s {
		return time.Time{}, fmt.Errorf("%s: %q is not an RFC 3339 UTC time to the second (2006-01-02T15:04:05Z)", o.field(key), s)
	}
	return t.UTC(), nil
}

// sameAsCanonical reports where data differs from the canonical encoding
// of st, ignoring white space between tokens. It compares compact forms,
// which are cheaper to make than the indented one.
func sameAsCanonical(data []byte, st *statementJSON) error {
	canon, err := encodeCompactJSON(st, len(data))
	if err != nil {
		return err
	}
	if strictjson.EqualCompact(data, canon) {
		return nil
	}
	compact, err := compactJSON(data)
	if err != nil {
		return err
	}
	return sameCompactJSON(compact, canon)
}

// sameJSON reports where data differs from the canonical encoding canon,
// ignoring white space between tokens.
func sameJSON(data, canon []byte) error {
	a, err := compactJSON(data)
	if err != nil {
		return err
	}
	b, err := compactJSON(canon)
	if err != nil {
		return err
	}
	return sameCompactJSON(a, b)
}

// sameCompactJSON reports where the compact document x differs from the
// compact canonical encoding y.
func sameCompactJSON(x, y []byte) error {
	if bytes.Equal(x, y) {
		return nil
	}
	i := 0
	for i < len(x) && i < len(y) && x[i] == y[i] {
		i++
	}
	lo := max(0, i-40)
	return fmt.Errorf("not in canonical form: near %q the canonical encoding has %q (lists sorted, keys in order, strings unescaped)",
		x[lo:min(len(x), i+20)], y[lo:min(len(y), i+20)])
}
