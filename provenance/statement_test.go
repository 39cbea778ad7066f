package provenance

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/nix-community/go-nix/pkg/nixbase32"
	"google.golang.org/protobuf/encoding/protojson"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func nix32(d [32]byte) string { return nixbase32.EncodeToString(d[:]) }
func hexOf(d [32]byte) string { return hex.EncodeToString(d[:]) }

func storePath(name string) string { return "/nix/store/" + testHash32 + "-" + name }

func testBuildInfo() BuildInfo {
	src := digest("source")
	return BuildInfo{
		FlakeRef:  "github:kettle-build/example",
		Attribute: "packages.x86_64-linux.default",
		System:    "x86_64-linux",
		Source: Dependency{
			Name:        "source",
			URI:         "github:kettle-build/example/" + testRev,
			SHA256:      src,
			Annotations: map[string]string{"narHash": sriSHA256(src), "rev": testRev},
		},
		FlakeInputs: []Dependency{
			{Name: "nixpkgs", URI: "github:NixOS/nixpkgs/" + testRev, SHA256: digest("nixpkgs"),
				Annotations: map[string]string{"narHash": "sha256:" + nix32(digest("nixpkgs"))}},
			{Name: "busybox", URI: "path:/bin/busybox", SHA256: digest("busybox")},
		},
		Derivations: []Dependency{
			{Name: storePath("hello.drv"), SHA256: digest("hello.drv")},
			{Name: storePath("busybox-dir.drv"), SHA256: digest("bb.drv")},
		},
		Sources: []Dependency{
			{Name: storePath("busybox.mtree"), SHA256: digest("mtree"), Annotations: map[string]string{"narHash": sriSHA256(digest("mtree"))}},
		},
		Subjects: []Subject{
			{Name: storePath("hello"), Output: "out", SHA256: digest("hello"), NarSize: 1234},
			{Name: storePath("hello-doc"), Output: "doc", SHA256: digest("doc"), NarSize: 99},
		},
		ManifestRoot:      digest("root"),
		ManifestLeafCount: 9,
		ManifestVersion:   ManifestVersion,
		NixVersion:        "2.8.0",
		KettleVersion:     "v0.1.0",
		BuilderID:         "https://github.com/kettle-build/kettle/builder/sim-snp",
		BuilderVersion:    map[string]string{"kettle": "v0.1.0", "platform": "sim-snp", "measurement": strings.Repeat("ab", 48)},
		InvocationID:      "c0ffee",
		StartedOn:         time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
		FinishedOn:        time.Date(2026, 11, 23, 10, 0, 42, 0, time.UTC),
	}
}

func encodeTest(t testing.TB, b BuildInfo) []byte {
	t.Helper()
	data, err := EncodeStatement(b)
	if err != nil {
		t.Fatalf("EncodeStatement: %v", err)
	}
	return data
}

func TestEncodeStatementGolden(t *testing.T) {
	got := encodeTest(t, testBuildInfo())
	golden := filepath.Join("testdata", "provenance.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("EncodeStatement differs from %s (run go test -update if the change is intended):\n%s", golden, got)
	}
	if !bytes.HasSuffix(got, []byte("}\n")) || bytes.HasSuffix(got, []byte("\n\n")) {
		t.Error("provenance.json does not end in exactly one newline")
	}
}

// TestEncodeStatementInTotoValidate checks the output with the in-toto
// attestation library's own types and Validate methods, independently of
// the check EncodeStatement makes itself.
func TestEncodeStatementInTotoValidate(t *testing.T) {
	data := encodeTest(t, testBuildInfo())
	var st intoto.Statement
	if err := protojson.Unmarshal(data, &st); err != nil {
		t.Fatalf("protojson.Unmarshal(Statement): %v", err)
	}
	if err := st.Validate(); err != nil {
		t.Fatalf("Statement.Validate: %v", err)
	}
	if st.GetType() != intoto.StatementTypeUri {
		t.Errorf("_type = %q", st.GetType())
	}
	pred, err := protojson.Marshal(st.GetPredicate())
	if err != nil {
		t.Fatal(err)
	}
	var p slsa.Provenance
	if err := protojson.Unmarshal(pred, &p); err != nil {
		t.Fatalf("protojson.Unmarshal(Provenance): %v", err)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("Provenance.Validate: %v", err)
	}
	bd := p.GetBuildDefinition()
	if bd.GetBuildType() != BuildTypeNixFlakeV1 {
		t.Errorf("buildType = %q", bd.GetBuildType())
	}
	if got := bd.GetInternalParameters().GetFields()["manifestRoot"].GetStringValue(); got != hexOf(testBuildInfo().ManifestRoot) {
		t.Errorf("internalParameters.manifestRoot = %q", got)
	}
	if n := len(bd.GetResolvedDependencies()); n != 1+2+2+1 {
		t.Errorf("%d resolvedDependencies, want 6", n)
	}
	for _, rd := range append(bd.GetResolvedDependencies(), st.GetSubject()...) {
		if err := rd.Validate(); err != nil {
			t.Errorf("ResourceDescriptor %q: %v", rd.GetName(), err)
		}
	}
	if got := p.GetRunDetails().GetBuilder().GetId(); got != testBuildInfo().BuilderID {
		t.Errorf("runDetails.builder.id = %q", got)
	}
	if got := p.GetRunDetails().GetMetadata().GetFinishedOn().AsTime(); !got.Equal(testBuildInfo().FinishedOn) {
		t.Errorf("finishedOn = %v", got)
	}
	for _, s := range st.GetSubject() {
		if s.GetDigest()["sha256"] == "" || len(s.GetDigest()) != 1 {
			t.Errorf("subject %s digest = %v", s.GetName(), s.GetDigest())
		}
	}
}

// TestEncodeStatementDigestsLowerHex: every digest is lower-case hex, as the
// in-toto spec requires; Nix's forms appear only as annotations.
func TestEncodeStatementDigestsLowerHex(t *testing.T) {
	data := encodeTest(t, testBuildInfo())
	re := regexp.MustCompile(`"sha256": "([^"]*)"`)
	matches := re.FindAllStringSubmatch(string(data), -1)
	if len(matches) != 2+6 {
		t.Fatalf("found %d sha256 digests, want 8", len(matches))
	}
	for _, m := range matches {
		if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(m[1]) {
			t.Errorf("digest %q is not 64 lower-case hex digits", m[1])
		}
	}
	if re := regexp.MustCompile(`"(manifestRoot)": "([^"]*)"`); !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(re.FindStringSubmatch(string(data))[2]) {
		t.Error("manifestRoot is not lower-case hex")
	}
}

// TestEncodeStatementDeterministic: the order of lists and the insertion
// order of maps do not change the bytes.
func TestEncodeStatementDeterministic(t *testing.T) {
	want := encodeTest(t, testBuildInfo())
	for i := 0; i < 20; i++ {
		b := testBuildInfo()
		reverse(b.Subjects)
		reverse(b.FlakeInputs)
		reverse(b.Derivations)
		// Rebuild the maps in another insertion order.
		v := map[string]string{}
		keys := []string{"platform", "measurement", "kettle"}
		for _, k := range keys {
			v[k] = b.BuilderVersion[k]
		}
		b.BuilderVersion = v
		b.StartedOn = b.StartedOn.In(time.FixedZone("X", 3600))
		if got := encodeTest(t, b); !bytes.Equal(got, want) {
			t.Fatalf("EncodeStatement is not deterministic:\n%s\nvs\n%s", got, want)
		}
	}
}

func reverse[T any](s []T) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

func TestEncodeStatementKeyOrder(t *testing.T) {
	data := string(encodeTest(t, testBuildInfo()))
	order := []string{`"_type"`, `"subject"`, `"predicateType"`, `"predicate"`, `"buildDefinition"`, `"buildType"`,
		`"externalParameters"`, `"internalParameters"`, `"manifestVersion"`, `"manifestRoot"`, `"manifestLeafCount"`,
		`"nixVersion"`, `"kettleVersion"`, `"resolvedDependencies"`, `"runDetails"`, `"builder"`, `"id"`, `"version"`,
		`"metadata"`, `"invocationId"`, `"startedOn"`, `"finishedOn"`}
	pos := 0
	for _, k := range order {
		i := strings.Index(data[pos:], k)
		if i < 0 {
			t.Fatalf("key %s missing or out of order", k)
		}
		pos += i
	}
	if strings.Contains(data, `\u003c`) || strings.Contains(data, `\u0026`) {
		t.Error("HTML characters are escaped")
	}
}

func TestStatementRoundTrip(t *testing.T) {
	b := testBuildInfo()
	b.FlakeRef = "path:/tmp/x?a=1&b=<2>" // HTML characters stay as they are
	data := encodeTest(t, b)
	st, err := DecodeStatement(data)
	if err != nil {
		t.Fatalf("DecodeStatement: %v", err)
	}
	if st.BuildType != BuildTypeNixFlakeV1 {
		t.Errorf("BuildType = %q", st.BuildType)
	}
	if !bytes.Equal(st.Raw, data) {
		t.Error("Raw is not the input")
	}
	if st.Digest() != digestBytes(data) {
		t.Error("Digest is not the SHA-256 of the bytes")
	}
	if st.ManifestRoot != b.ManifestRoot || st.ManifestLeafCount != b.ManifestLeafCount || st.ManifestVersion != ManifestVersion {
		t.Errorf("manifest parameters = %x %d %d", st.ManifestRoot, st.ManifestLeafCount, st.ManifestVersion)
	}
	if len(st.Subjects) != 2 || st.Subjects[0].Name != storePath("hello") || st.Subjects[0].NarSize != 1234 || st.Subjects[0].Output != "out" {
		t.Errorf("Subjects = %+v", st.Subjects)
	}
	if st.Source.URI != b.Source.URI || st.Source.Annotations["rev"] != testRev || st.Source.Annotations[KindAnnotation] != "" {
		t.Errorf("Source = %+v", st.Source)
	}
	if len(st.FlakeInputs) != 2 || len(st.Derivations) != 2 || len(st.Sources) != 1 {
		t.Errorf("dependencies: %d inputs, %d drvs, %d srcs", len(st.FlakeInputs), len(st.Derivations), len(st.Sources))
	}
	again := encodeTest(t, st.BuildInfo)
	if !bytes.Equal(again, data) {
		t.Errorf("EncodeStatement(DecodeStatement(x)) != x:\n%s\nvs\n%s", again, data)
	}
	if !st.StartedOn.Equal(b.StartedOn) || st.StartedOn.Location() != time.UTC {
		t.Errorf("StartedOn = %v", st.StartedOn)
	}
	// The data is copied.
	data[0] = 'x'
	if st.Raw[0] == 'x' {
		t.Error("Raw aliases the input")
	}
}

func digestBytes(b []byte) [32]byte {
	var d [32]byte
	h := digest(string(b))
	copy(d[:], h[:])
	return d
}

func TestStatementMinimal(t *testing.T) {
	b := testBuildInfo()
	b.System, b.NixVersion, b.KettleVersion, b.InvocationID = "", "", "", ""
	b.FlakeInputs, b.Derivations, b.Sources, b.BuilderVersion = nil, nil, nil, nil
	b.StartedOn, b.FinishedOn = time.Time{}, time.Time{}
	b.Source.Annotations = nil
	data := encodeTest(t, b)
	for _, absent := range []string{"system", "nixVersion", "kettleVersion", "metadata", `"version"`} {
		if strings.Contains(string(data), absent) {
			t.Errorf("empty %s is written", absent)
		}
	}
	st, err := DecodeStatement(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st.BuildInfo, b) {
		t.Errorf("round trip of a minimal statement:\n%+v\nvs\n%+v", st.BuildInfo, b)
	}
}

func TestEncodeStatementErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mutate  func(*BuildInfo)
		wantErr string
	}{
		{"no flake", func(b *BuildInfo) { b.FlakeRef = "" }, "flake reference is empty"},
		{"no attribute", func(b *BuildInfo) { b.Attribute = "" }, "attribute is empty"},
		{"manifest version", func(b *BuildInfo) { b.ManifestVersion = 0 }, "manifest version 0, want 1 or 2"},
		{"leaf count", func(b *BuildInfo) { b.ManifestLeafCount = 0 }, "leaf count 0"},
		{"root", func(b *BuildInfo) { b.ManifestRoot = [32]byte{} }, "manifest root is not set"},
		{"builder id", func(b *BuildInfo) { b.BuilderID = "" }, "builder ID is empty"},
		{"builder id not a URI", func(b *BuildInfo) { b.BuilderID = "sim snp" }, "not a URI"},
		{"builder version key", func(b *BuildInfo) { b.BuilderVersion[""] = "x" }, "empty key or value"},
		{"no subjects", func(b *BuildInfo) { b.Subjects = nil }, "no subjects"},
		{"subject path", func(b *BuildInfo) { b.Subjects[0].Name = "hello" }, "absolute"},
		{"subject twice", func(b *BuildInfo) { b.Subjects[1].Name = b.Subjects[0].Name }, "listed twice"},
		{"subject output", func(b *BuildInfo) { b.Subjects[0].Output = "" }, "output name"},
		{"subject digest", func(b *BuildInfo) { b.Subjects[0].SHA256 = [32]byte{} }, "NAR SHA-256 is not set"},
		{"subject size", func(b *BuildInfo) { b.Subjects[0].NarSize = 0 }, "NAR size is 0"},
		{"source URI", func(b *BuildInfo) { b.Source.URI = "" }, "source: locked URL"},
		{"source digest", func(b *BuildInfo) { b.Source.SHA256 = [32]byte{} }, "SHA-256 is not set"},
		{"source narHash mismatch", func(b *BuildInfo) { b.Source.Annotations["narHash"] = sriSHA256(digest("other")) }, "annotation narHash"},
		{"narHash form", func(b *BuildInfo) { b.Sources[0].Annotations["narHash"] = "md5-abc" }, "not a Nix sha256 hash"},
		{"reserved annotation", func(b *BuildInfo) { b.Derivations[0].Annotations = map[string]string{"kind": "x"} }, "reserved"},
		{"empty annotation key", func(b *BuildInfo) { b.Derivations[0].Annotations = map[string]string{"": "x"} }, "empty annotation key"},
		{"nameless dependency", func(b *BuildInfo) { b.Derivations[0].Name = "" }, "neither name nor URI"},
		{"duplicate dependency", func(b *BuildInfo) { b.Derivations[1].Name = b.Derivations[0].Name }, "listed twice"},
		{"dependency URI", func(b *BuildInfo) { b.FlakeInputs[0].URI = "github:a b" }, "white space"},
		{"time order", func(b *BuildInfo) { b.FinishedOn = b.StartedOn.Add(-time.Second) }, "before startedOn"},
		{"time range", func(b *BuildInfo) { b.StartedOn = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "outside 1..9999"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testBuildInfo()
			tc.mutate(&b)
			data, err := EncodeStatement(b)
			if err == nil {
				t.Fatalf("EncodeStatement succeeded:\n%s", data)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not mention %q", err, tc.wantErr)
			}
			if strings.HasPrefix(err.Error(), "provenance") {
				t.Errorf("error %q names the provenance, which the caller does", err)
			}
		})
	}
}

func TestCheckNixHash(t *testing.T) {
	d := digest("x")
	for _, ok := range []string{sriSHA256(d), "sha256:" + nixbase32.EncodeToString(d[:]), "sha256:" + hex.EncodeToString(d[:])} {
		if err := checkNixHash(ok, d); err != nil {
			t.Errorf("checkNixHash(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", hex.EncodeToString(d[:]), sriSHA256(digest("y")), "sha256:" + nixbase32.EncodeToString(d[:])[1:], "sha512-xx"} {
		if err := checkNixHash(bad, d); err == nil {
			t.Errorf("checkNixHash(%q) accepted", bad)
		}
	}
}

// statementWith decodes the test statement into a generic tree, lets mutate
// change it, and encodes it again (keys sorted, which is not canonical, but
// the field checks run before the canonical-form check).
func statementWith(t testing.TB, mutate func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(encodeTest(t, testBuildInfo())))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	mutate(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// at walks a generic JSON tree along a dotted path with [i] indices.
func at(m map[string]any, path string) map[string]any {
	var cur any = m
	for _, part := range strings.Split(path, ".") {
		name, idx, _ := strings.Cut(part, "[")
		cur = cur.(map[string]any)[name]
		if idx != "" {
			cur = cur.([]any)[int(idx[0]-'0')]
		}
	}
	return cur.(map[string]any)
}

func TestDecodeStatementBad(t *testing.T) {
	good := string(encodeTest(t, testBuildInfo()))
	const (
		bd   = "predicate.buildDefinition"
		deps = "predicate.buildDefinition.resolvedDependencies"
		rd   = "predicate.runDetails"
	)
	set := func(path, key string, v any) []byte {
		return statementWith(t, func(m map[string]any) { at(m, path)[key] = v })
	}
	del := func(path, key string) []byte {
		return statementWith(t, func(m map[string]any) { delete(at(m, path), key) })
	}
	setTop := func(key string, v any) []byte {
		return statementWith(t, func(m map[string]any) {
			if v == nil {
				delete(m, key)
			} else {
				m[key] = v
			}
		})
	}
	depsList := func(f func([]any) []any) []byte {
		return statementWith(t, func(m map[string]any) {
			at(m, bd)["resolvedDependencies"] = f(at(m, bd)["resolvedDependencies"].([]any))
		})
	}
	subjects := func(f func([]any) []any) []byte {
		return statementWith(t, func(m map[string]any) { m["subject"] = f(m["subject"].([]any)) })
	}

	for _, tc := range []struct {
		name    string
		doc     []byte
		wantErr string
	}{
		{"empty", nil, "empty"},
		{"not JSON", []byte("provenance"), "not JSON"},
		{"array", []byte("[]"), "not a JSON object"},
		{"truncated", []byte(good[:len(good)-3]), "not JSON"},
		{"trailing garbage", []byte(good + "garbage"), "trailing data"},
		{"trailing object", []byte(good + "{}"), "trailing data"},
		{"duplicate key", []byte(strings.Replace(good, `"_type": "`+StatementType+`",`, `"_type": "`+StatementType+`", "_type": "x",`, 1)), "_type: duplicate key"},
		{"invalid UTF-8", []byte(strings.Replace(good, "example", "exa\xc0mple", 1)), "UTF-8"},
		{"unknown top-level field", setTop("signature", "x"), "signature: unknown field"},
		{"type legacy", setTop("_type", "https://in-toto.io/Statement/v0.1"), `_type: "https://in-toto.io/Statement/v0.1", want "https://in-toto.io/Statement/v1"`},
		{"type missing", setTop("_type", nil), "_type: missing"},
		{"type case", []byte(strings.Replace(good, `"_type"`, `"_Type"`, 1)), "_type: missing"},
		{"predicate type", setTop("predicateType", "https://slsa.dev/provenance/v0.2"), "predicateType: "},
		{"subject missing", setTop("subject", nil), "subject: missing"},
		{"subject empty", setTop("subject", []any{}), "subject: empty"},
		{"subject not an array", setTop("subject", map[string]any{}), "subject: got an object, want an array"},
		{"subject not an object", setTop("subject", []any{"x"}), "subject[0]: got a string, want an object"},
		{"subject name", set("subject[0]", "name", "hello"), "subject[0].name: "},
		{"subject name missing", del("subject[0]", "name"), "subject[0].name: missing"},
		{"subject digest upper case", set("subject[0].digest", "sha256", strings.ToUpper(hexOf(digest("hello")))), "subject[0].digest.sha256: "},
		{"subject digest short", set("subject[0].digest", "sha256", "abcd"), "subject[0].digest.sha256: \"abcd\" is not 64 lower-case hex"},
		{"subject digest zero", set("subject[0].digest", "sha256", strings.Repeat("0", 64)), "all zero"},
		{"subject digest extra algorithm", set("subject[0].digest", "sha512", strings.Repeat("0", 128)), "subject[0].digest.sha512: unknown field"},
		{"subject digest missing", del("subject[0]", "digest"), "subject[0].digest: missing"},
		{"subject narHash", set("subject[0].annotations", "narHash", sriSHA256(digest("other"))), "subject[0].annotations.narHash: "},
		{"subject narSize zero", set("subject[0].annotations", "narSize", json.Number("0")), "subject[0].annotations.narSize: 0"},
		{"subject narSize string", set("subject[0].annotations", "narSize", "12"), "narSize: got a string"},
		{"subject narSize float", set("subject[0].annotations", "narSize", json.Number("12.5")), "not a non-negative integer"},
		{"subject output missing", del("subject[0].annotations", "output"), "subject[0].annotations.output: missing"},
		{"subject extra annotation", set("subject[0].annotations", "x", "y"), "subject[0].annotations.x: unknown field"},
		{"subject extra field", set("subject[0]", "uri", "y"), "subject[0].uri: unknown field"},
		{"subjects unsorted", subjects(func(s []any) []any { return []any{s[1], s[0]} }), "subject[1]: "},
		{"subjects duplicated", subjects(func(s []any) []any { return []any{s[0], s[0]} }), "without duplicates"},
		{"predicate missing", setTop("predicate", nil), "predicate: missing"},
		{"predicate extra", set("predicate", "byproducts", "x"), "predicate.byproducts: unknown field"},
		{"build type", set(bd, "buildType", "https://example.org/other"), bd + ".buildType: "},
		{"build definition missing", del("predicate", "buildDefinition"), bd + ": missing"},
		{"external parameters missing", del(bd, "externalParameters"), bd + ".externalParameters: missing"},
		{"flake empty", set(bd+".externalParameters", "flake", ""), bd + ".externalParameters.flake: empty"},
		{"attribute missing", del(bd+".externalParameters", "attribute"), ".externalParameters.attribute: missing"},
		{"system empty", set(bd+".externalParameters", "system", ""), ".externalParameters.system: empty"},
		{"external parameter unknown", set(bd+".externalParameters", "impure", true), ".externalParameters.impure: unknown field"},
		{"internal parameters missing", del(bd, "internalParameters"), ".internalParameters: missing"},
		{"manifest root missing", del(bd+".internalParameters", "manifestRoot"), ".internalParameters.manifestRoot: missing"},
		{"manifest root bad", set(bd+".internalParameters", "manifestRoot", "zz"), ".internalParameters.manifestRoot: "},
		{"manifest leaf count missing", del(bd+".internalParameters", "manifestLeafCount"), ".internalParameters.manifestLeafCount: missing"},
		{"manifest leaf count zero", set(bd+".internalParameters", "manifestLeafCount", json.Number("0")), ".internalParameters.manifestLeafCount: 0"},
		{"manifest version", set(bd+".internalParameters", "manifestVersion", json.Number("3")), ".internalParameters.manifestVersion: 3, want 1 or 2"},
		{"manifest version missing", del(bd+".internalParameters", "manifestVersion"), ".internalParameters.manifestVersion: missing"},
		{"dependencies missing", del(bd, "resolvedDependencies"), ".resolvedDependencies: missing"},
		{"dependency kind missing", statementWith(t, func(m map[string]any) { delete(at(m, deps+"[1].annotations"), "kind") }), deps + "[1].annotations.kind: \"\""},
		{"dependency kind unknown", set(deps+"[1].annotations", "kind", "tool"), deps + "[1].annotations.kind: \"tool\""},
		{"dependency annotation not a string", set(deps+"[1].annotations", "x", json.Number("1")), deps + "[1].annotations.x: got a number"},
		{"dependency digest missing", del(deps+"[3]", "digest"), deps + "[3].digest: missing"},
		{"dependency unknown field", set(deps+"[3]", "content", "eA=="), deps + "[3].content: unknown field"},
		{"dependency order", depsList(func(d []any) []any { return append([]any{d[5]}, d[:5]...) }), "a source dependency after the src ones"},
		{"no source", depsList(func(d []any) []any { return d[1:] }), "no source dependency"},
		{"two sources", depsList(func(d []any) []any { return append([]any{d[0]}, d...) }), "a second source dependency"},
		{"dependencies unsorted", depsList(func(d []any) []any { d[1], d[2] = d[2], d[1]; return d }), "not in canonical form"},
		{"dependency narHash", set(deps+"[0].annotations", "narHash", sriSHA256(digest("x"))), "annotation narHash"},
		{"run details missing", del("predicate", "runDetails"), rd + ": missing"},
		{"builder id missing", del(rd+".builder", "id"), rd + ".builder.id: missing"},
		{"builder id not a URI", set(rd+".builder", "id", "sim-snp"), rd + ".builder.id: "},
		{"builder version not a string", set(rd+".builder.version", "kettle", json.Number("1")), rd + ".builder.version.kettle: got a number"},
		{"builder dependencies", set(rd+".builder", "builderDependencies", []any{}), rd + ".builder.builderDependencies: unknown field"},
		{"started on offset", set(rd+".metadata", "startedOn", "2026-11-23T11:00:00+01:00"), rd + ".metadata.startedOn: "},
		{"started on fraction", set(rd+".metadata", "startedOn", "2026-11-23T10:00:00.5Z"), "RFC 3339 UTC time to the second"},
		{"started on garbage", set(rd+".metadata", "startedOn", "yesterday"), rd + ".metadata.startedOn: "},
		{"finished before started", set(rd+".metadata", "finishedOn", "2026-11-23T09:00:00Z"), "before startedOn"},
		{"metadata unknown", set(rd+".metadata", "cost", "1"), rd + ".metadata.cost: unknown field"},
		{"escaped string", []byte(strings.Replace(good, `"output": "out"`, `"output": "\u006fut"`, 1)), "not in canonical form"},
		{"key order", []byte(strings.Replace(strings.Replace(good, `"predicateType": "`+PredicateType+`",`, "", 1), `"_type": "`+StatementType+`",`, `"_type": "`+StatementType+`", "predicateType": "`+PredicateType+`",`, 1)), "not in canonical form"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := DecodeStatement(tc.doc)
			if err == nil {
				t.Fatalf("DecodeStatement succeeded: %+v\n%s", st, tc.doc)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not mention %q", err, tc.wantErr)
			}
			if strings.HasPrefix(err.Error(), "provenance") {
				t.Errorf("error %q names the provenance, which the caller does", err)
			}
		})
	}
}

// TestDecodeStatementWhiteSpace: white space between tokens does not
// matter; the bytes the attestation binds are whatever was written.
func TestDecodeStatementWhiteSpace(t *testing.T) {
	good := encodeTest(t, testBuildInfo())
	var compact bytes.Buffer
	if err := json.Compact(&compact, good); err != nil {
		t.Fatal(err)
	}
	st, err := DecodeStatement(compact.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(st.Raw, compact.Bytes()) {
		t.Error("Raw is not the compact input")
	}
}

func FuzzDecodeStatement(f *testing.F) {
	good := encodeTest(f, testBuildInfo())
	f.Add(good)
	var compact bytes.Buffer
	_ = json.Compact(&compact, good)
	f.Add(compact.Bytes())
	b := testBuildInfo()
	b.FlakeInputs, b.Derivations, b.Sources = nil, nil, nil
	b.StartedOn, b.FinishedOn, b.InvocationID = time.Time{}, time.Time{}, ""
	f.Add(encodeTest(f, b))
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`))
	f.Add(append(append([]byte(nil), good...), '}'))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := DecodeStatement(data)
		if err != nil {
			if st != nil {
				t.Fatalf("DecodeStatement returned a statement with error %v", err)
			}
			return
		}
		// Whatever decodes re-encodes to the same JSON, passes in-toto's
		// validation, and decodes to the same values again.
		out, err := EncodeStatement(st.BuildInfo)
		if err != nil {
			t.Fatalf("EncodeStatement of a decoded statement: %v", err)
		}
		if err := sameJSON(data, out); err != nil {
			t.Fatalf("re-encoding differs: %v", err)
		}
		if err := validateInToto(data); err != nil {
			t.Fatalf("decoded statement fails in-toto validation: %v", err)
		}
		st2, err := DecodeStatement(out)
		if err != nil || !reflect.DeepEqual(st2.BuildInfo, st.BuildInfo) {
			t.Fatalf("second decode: %v", err)
		}
	})
}

func BenchmarkEncodeStatement(b *testing.B) {
	info := testBuildInfo()
	for i := 0; i < 3000; i++ {
		info.Derivations = append(info.Derivations, Dependency{Name: storePath("pkg-" + strings.Repeat("x", i%7) + hex.EncodeToString([]byte{byte(i), byte(i >> 8)}) + ".drv"), SHA256: digest(string(rune(i)))})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := EncodeStatement(info); err != nil {
			b.Fatal(err)
		}
	}
}

// TestValidateInToto checks the in-toto validation step on its own, with
// documents that only the in-toto library's checks are asked to judge.
func TestValidateInToto(t *testing.T) {
	if err := validateInToto(encodeTest(t, testBuildInfo())); err != nil {
		t.Fatalf("good statement: %v", err)
	}
	const (
		bd = "predicate.buildDefinition"
		rd = "predicate.runDetails"
	)
	for _, tc := range []struct {
		name    string
		doc     []byte
		wantErr string
	}{
		{"no predicate", statementWith(t, func(m map[string]any) { delete(m, "predicate") }), "predicate object required"},
		{"predicate null", statementWith(t, func(m map[string]any) { m["predicate"] = nil }), "predicate does not parse"},
		{"unknown predicate field", statementWith(t, func(m map[string]any) { at(m, bd)["buildTypo"] = "x" }), "predicate does not parse"},
		{"no builder id", statementWith(t, func(m map[string]any) { delete(at(m, rd+".builder"), "id") }), "runDetails.builder"},
		{"no build type", statementWith(t, func(m map[string]any) { at(m, bd)["buildType"] = "" }), "buildType required"},
		{"no external parameters", statementWith(t, func(m map[string]any) { at(m, bd)["externalParameters"] = map[string]any{} }), "externalParameters required"},
		{"bad dependency digest", statementWith(t, func(m map[string]any) { at(m, bd+".resolvedDependencies[1].digest")["sha256"] = "xyz" }), "not valid hex"},
		{"short subject digest", statementWith(t, func(m map[string]any) { at(m, "subject[0].digest")["sha256"] = "abcd" }), "incorrect length"},
		{"no subjects", statementWith(t, func(m map[string]any) { m["subject"] = []any{} }), "at least one subject"},
		{"bad time", statementWith(t, func(m map[string]any) { at(m, rd+".metadata")["startedOn"] = "noon" }), "predicate does not parse"},
		{"wrong predicate type", statementWith(t, func(m map[string]any) { m["predicateType"] = "x" }), "predicateType"},
		{"wrong statement type", statementWith(t, func(m map[string]any) { m["_type"] = "x" }), "wrong statement type"},
	} {
		if err := validateInToto(tc.doc); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: validateInToto = %v, want an error mentioning %q", tc.name, err, tc.wantErr)
		}
	}
}

// TestKettleAnnotationsEncodeAsTheMap: the struct resourcesJSON uses for
// the annotations Kettle writes encodes to the bytes of the map it stands
// for, and the map is kept for any other annotations.
func TestKettleAnnotationsEncodeAsTheMap(t *testing.T) {
	sum := digest("x")
	for _, ann := range []map[string]string{
		nil,
		{"narHash": sriSHA256(sum)},
		{"narHash": sriSHA256(sum), "rev": "0123456789abcdef0123456789abcdef01234567"},
		{"rev": "<&>\u2028\u2029\"\\\x01é"},
		{"rev": ""},
		{"narHash": sriSHA256(sum), "other": "x"},
		{"a": "1", "z": "2"},
	} {
		for _, kind := range []string{DependencySource, DependencySrc, "<&>"} {
			got, err := dependencyAnnotations(kind, Dependency{Name: "n", SHA256: sum, Annotations: ann})
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]string{KindAnnotation: kind}
			for k, v := range ann {
				m[k] = v
			}
			wantStruct := true
			for k, v := range ann {
				if k != "narHash" && k != RevName || v == "" {
					wantStruct = false
				}
			}
			if _, isStruct := got.(*kettleAnnotations); isStruct != wantStruct {
				t.Errorf("annotations %v: %T", ann, got)
			}
			a, err := encodeJSON(resourceJSON{Name: "n", Annotations: got})
			if err != nil {
				t.Fatal(err)
			}
			b, err := encodeJSON(resourceJSON{Name: "n", Annotations: m})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Errorf("annotations %v of kind %q encode as\n%s\nwant\n%s", ann, kind, a, b)
			}
		}
	}
}

// TestValidateInTotoMessages: the messages DecodeStatement validates
// carry what the in-toto library checks, so that they fail as parsing the
// encoded statement with protojson does.
func TestValidateInTotoMessages(t *testing.T) {
	good := func(t *testing.T) *statementJSON {
		st, err := statementFrom(testBuildInfo())
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if err := validateInTotoMessages(good(t)); err != nil {
		t.Fatalf("good statement: %v", err)
	}
	for _, tc := range []struct {
		name    string
		edit    func(*statementJSON)
		wantErr string
	}{
		{"statement type", func(s *statementJSON) { s.Type = "x" }, "wrong statement type"},
		{"no subjects", func(s *statementJSON) { s.Subject = nil }, "at least one subject"},
		{"short subject digest", func(s *statementJSON) { s.Subject[0].Digest.SHA256 = "abcd" }, "incorrect length"},
		{"predicate type", func(s *statementJSON) { s.PredicateType = "x" }, "predicateType"},
		{"no build type", func(s *statementJSON) { s.Predicate.BuildDefinition.BuildType = "" }, "buildType required"},
		{"bad dependency digest", func(s *statementJSON) { s.Predicate.BuildDefinition.ResolvedDependencies[1].Digest.SHA256 = "xyz" }, "not valid hex"},
		{"dependency with an empty digest", func(s *statementJSON) {
			s.Predicate.BuildDefinition.ResolvedDependencies[1] = resourceJSON{Annotations: map[string]string{}}
		}, "digest has incorrect length: got 0 bytes"},
		{"no builder id", func(s *statementJSON) { s.Predicate.RunDetails.Builder.ID = "" }, "runDetails.builder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := good(t)
			tc.edit(st)
			if err := validateInTotoMessages(st); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("validateInTotoMessages: %v, want an error containing %q", err, tc.wantErr)
			}
			data, err := encodeJSON(st)
			if err != nil {
				t.Fatal(err)
			}
			if err := validateInToto(data); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("validateInToto of the encoding: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}
