package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/attest/azsnp"
	"github.com/kettle-build/kettle/attest/sim"
)

// The evidence below is laid out as the foreign tool's attestation library
// writes it (attestation-rs 026cbda, src/platforms/*/evidence.rs), signed
// by Kettle's TEST-ONLY roots: no real sample of these platforms is at hand.

// foreignSNPEvidence is bare SEV-SNP evidence with the VCEK embedded.
func foreignSNPEvidence(t *testing.T, rd [64]byte) []byte {
	t.Helper()
	s, err := sim.NewSNPSigner()
	if err != nil {
		t.Fatal(err)
	}
	var f sim.ReportFields
	f.ReportData = rd
	copy(f.Measurement[:], attest.DefaultSimMeasurement())
	report, err := s.Sign(sim.NewSNPReport(f))
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	return mustJSON(t, map[string]any{"platform": "snp", "evidence": map[string]any{
		"attestation_report": b64(report),
		"cert_chain":         map[string]any{"vcek": b64(s.Chain().VCEK), "ask": nil, "ark": nil},
	}})
}

// simTDQuote is a TD quote of the simulated platform over rd.
func simTDQuote(t *testing.T, rd [64]byte) []byte {
	t.Helper()
	s, err := sim.NewTDXSigner()
	if err != nil {
		t.Fatal(err)
	}
	f := sim.TDXFields{ReportData: rd}
	copy(f.MRTD[:], attest.DefaultSimTDXMeasurement())
	q, err := s.Sign(s.NewTDXQuote(f))
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// foreignTDXEvidence is bare TDX evidence with a CC event log.
func foreignTDXEvidence(t *testing.T, rd [64]byte) []byte {
	t.Helper()
	b64 := base64.StdEncoding.EncodeToString
	return mustJSON(t, map[string]any{"platform": "tdx", "evidence": map[string]any{
		"quote": b64(simTDQuote(t, rd)), "cc_eventlog": b64([]byte("TCG event log")),
	}})
}

// foreignAzTDXEvidence is Azure TDX evidence: the TD quote commits to the
// HCL runtime claims naming a vTPM key, which signs a quote of 24 zero
// PCRs with extra as qualifying data.
func foreignAzTDXEvidence(t *testing.T, extra []byte) []byte {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	claims := mustJSON(t, map[string]any{"keys": []azsnp.JWK{azsnp.NewJWK(azsnp.AKKeyID, &key.PublicKey)}})
	var rd [64]byte
	sum := sha256.Sum256(claims)
	copy(rd[:], sum[:])
	hcl, err := azsnp.NewTDXHCLReport(make([]byte, 1024), claims, 0)
	if err != nil {
		t.Fatal(err)
	}
	pcrs := make([][]byte, azsnp.NumPCRs)
	for i := range pcrs {
		pcrs[i] = make([]byte, 32)
	}
	digest, err := azsnp.PCRDigest(pcrs)
	if err != nil {
		t.Fatal(err)
	}
	q := tpm2.TPMSQuoteInfo{PCRSelect: azsnp.AllPCRs(), PCRDigest: tpm2.TPM2BDigest{Buffer: digest}}
	msg := tpm2.Marshal(tpm2.TPMSAttest{Magic: tpm2.TPMGeneratedValue, Type: tpm2.TPMSTAttestQuote,
		ExtraData: tpm2.TPM2BData{Buffer: extra}, Attested: tpm2.NewTPMUAttest(tpm2.TPMSTAttestQuote, &q)})
	h := sha256.Sum256(msg)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
	if err != nil {
		t.Fatal(err)
	}
	ev := &azsnp.TDXEvidence{Version: 1, Quote: azsnp.Quote{Signature: sig, Message: msg, PCRs: pcrs}, HCLReport: hcl, TDQuote: simTDQuote(t, rd)}
	body, err := ev.MarshalBody()
	if err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, map[string]any{"platform": "az-tdx", "evidence": json.RawMessage(body)})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// foreignCargoProvenance is a v1.x cargo provenance, pretty-printed as the
// foreign tool writes it, for an artifact and a Cargo.lock, with its input
// Merkle root; edit, when set, changes the document first.
func foreignCargoProvenance(t *testing.T, artifact, lock []byte, edit func(map[string]any)) []byte {
	t.Helper()
	tool := func(v string) map[string]any {
		return map[string]any{"digest": map[string]any{"sha256": hexSum([]byte(v))}, "version": v}
	}
	doc := map[string]any{
		"_type": "https://in-toto.io/Statement/v1",
		"predicate": map[string]any{
			"buildDefinition": map[string]any{
				"buildType": foreignBuildCargo,
				"externalParameters": map[string]any{
					"buildCommand": "cargo build --locked --release",
					"source":       map[string]any{"digest": map[string]any{"gitCommit": strings.Repeat("a", 40), "gitTree": strings.Repeat("b", 40)}, "uri": ""},
				},
				"internalParameters": map[string]any{
					"lockfileHash": map[string]any{"sha256": hexSum(lock)},
					"toolchain":    map[string]any{"cargo": tool("cargo 1.93.1"), "rustc": tool("rustc 1.93.1"), "kettle": tool("1.1.1")},
				},
				"resolvedDependencies": []any{map[string]any{
					"digest": map[string]any{"sha256": hexSum([]byte("anyhow"))}, "name": "anyhow",
					"uri": "pkg:cargo/anyhow@1.0.100",
				}},
			},
			"runDetails": map[string]any{
				"builder":    map[string]any{"id": "https://lunal.dev/kettle-tee/v1"},
				"byproducts": []any{},
				"metadata":   map[string]any{"invocationId": "build-1", "startedOn": "2026-06-30T00:00:00+00:00", "finishedOn": "2026-06-30T00:00:01+00:00"},
			},
		},
		"predicateType": "https://slsa.dev/provenance/v1",
		"subject":       []any{map[string]any{"digest": map[string]any{"sha256": hexSum(artifact)}, "name": "demo"}},
	}
	if edit != nil {
		edit(doc)
	}
	data := mustJSON(t, doc)
	st, err := decodeForeignStatement(data)
	if err != nil {
		t.Fatal(err)
	}
	leaves, err := foreignMerkleLeaves(st)
	if err != nil {
		t.Fatal(err)
	}
	root, err := foreignMerkleRoot(leaves)
	if err != nil {
		t.Fatal(err)
	}
	rd := doc["predicate"].(map[string]any)["runDetails"].(map[string]any)
	rd["byproducts"] = []any{map[string]any{"digest": map[string]any{"sha256": hex.EncodeToString(root[:])}, "name": foreignMerkleByproduct}}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// v1Binding is the v1.x report data: SHA-256(provenance.json) ‖ nonce,
// zero-padded to 64 bytes.
func v1Binding(prov []byte, nonce [16]byte) [64]byte {
	var rd [64]byte
	sum := sha256.Sum256(prov)
	copy(rd[:], sum[:])
	copy(rd[32:], nonce[:])
	return rd
}

// writeForeign writes a foreign bundle: files by relative path.
func writeForeign(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestForeignSimulatedPlatforms: a synthetic v1.x cargo bundle of each of
// the foreign tool's other platforms verifies as SIMULATED and FOREIGN,
// with its artifact, lock file, Merkle root and nonce checked, and fails on
// tamper at the step that owns it.
func TestForeignSimulatedPlatforms(t *testing.T) {
	artifact, lock := []byte("\x7fELF demo binary"), []byte("version = 4\n")
	prov := foreignCargoProvenance(t, artifact, lock, nil)
	nonce := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	rd := v1Binding(prov, nonce)
	for _, tc := range []struct {
		name     string
		evidence []byte
		platform attest.Platform
	}{
		{"snp", foreignSNPEvidence(t, rd), attest.PlatformSEVSNP},
		{"tdx", foreignTDXEvidence(t, rd), attest.PlatformTDX},
		{"az-tdx", foreignAzTDXEvidence(t, rd[:48]), attest.PlatformAzTDX},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string][]byte{"provenance.json": prov, "evidence.json": tc.evidence, "artifacts/demo": artifact, LockCargo: lock}
			dir := writeForeign(t, files)
			rep := Verify(context.Background(), Options{Bundle: dir, AllowSimulated: true, Nonce: nonce[:]})
			if !rep.OK || !rep.Simulated || rep.Foreign != ForeignTool || rep.Platform != tc.platform {
				t.Fatalf("%s: %+v", tc.name, rep)
			}
			for _, want := range []string{"SIMULATED", "FOREIGN", "v1.x"} {
				if !strings.Contains(rep.Verdict(), want) {
					t.Errorf("verdict %q lacks %q", rep.Verdict(), want)
				}
			}
			for _, s := range rep.Steps {
				if s.Status != Pass && s.Step != StepMeasurement && s.Step != StepOutputs {
					t.Errorf("step %s: %s %s", s.Step, s.Status, s.Detail)
				}
			}
			if rep := Verify(context.Background(), Options{Bundle: dir}); rep.OK || rep.Failed != StepChain {
				t.Errorf("without AllowSimulated: %+v", rep)
			}
			other := nonce
			other[0] ^= 1
			if rep := Verify(context.Background(), Options{Bundle: dir, AllowSimulated: true, Nonce: other[:]}); rep.OK || rep.Failed != StepBinding {
				t.Errorf("wrong nonce: %+v", rep)
			}
			for _, tamper := range []struct {
				file   string
				edit   func([]byte) []byte
				failed Step
			}{
				{"artifacts/demo", flipLast, StepSubjects},
				{LockCargo, flipLast, StepDependencies},
				{"provenance.json", func(b []byte) []byte { return append(b, '\n') }, StepBinding},
				{"evidence.json", flipEvidence, StepChain},
			} {
				edited := map[string][]byte{}
				for k, v := range files {
					edited[k] = v
				}
				edited[tamper.file] = tamper.edit(append([]byte(nil), files[tamper.file]...))
				rep := Verify(context.Background(), Options{Bundle: writeForeign(t, edited), AllowSimulated: true})
				if rep.OK || rep.Failed != tamper.failed {
					t.Errorf("%s tampered: failed at %q, want %q: %+v", tamper.file, rep.Failed, tamper.failed, rep.Steps)
				}
			}
		})
	}
}

func flipLast(b []byte) []byte {
	b[len(b)-2] ^= 1
	return b
}

// flipEvidence changes one base64 or hex character deep in the signed
// report or quote of the evidence.
func flipEvidence(b []byte) []byte {
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		panic(err)
	}
	body := doc["evidence"].(map[string]any)
	for _, field := range []string{"attestation_report", "quote", "td_quote"} {
		s, ok := body[field].(string)
		if !ok {
			continue
		}
		r := []byte(s)
		i := len(r) / 3
		if r[i] == 'A' {
			r[i] = 'B'
		} else {
			r[i] = 'A'
		}
		body[field] = string(r)
		break
	}
	out, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return out
}

// TestForeignNixLockFile: a Nix bundle's flake.lock is checked against
// lockfileHash and each flakeInputs narHash against its root input.
func TestForeignNixLockFile(t *testing.T) {
	lockDoc := func(narHash string) []byte {
		return mustJSON(t, map[string]any{"nodes": map[string]any{
			"nixpkgs": map[string]any{"locked": map[string]any{"narHash": narHash, "type": "github"}},
			"root":    map[string]any{"inputs": map[string]any{"nixpkgs": "nixpkgs"}},
		}, "root": "root", "version": 7})
	}
	good := "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	artifact := []byte("alejandra")
	build := func(lock []byte, listed string) string {
		prov := foreignCargoProvenance(t, artifact, lock, func(doc map[string]any) {
			bd := doc["predicate"].(map[string]any)["buildDefinition"].(map[string]any)
			bd["buildType"] = foreignBuildNix
			ip := bd["internalParameters"].(map[string]any)
			ip["toolchain"] = map[string]any{
				"nix":    map[string]any{"digest": map[string]any{"sha256": hexSum([]byte("nix"))}, "version": "nix (Nix) 2.34.7"},
				"kettle": map[string]any{"digest": map[string]any{"sha256": hexSum([]byte("k"))}, "version": "1.0.0"},
			}
			ip["flakeInputs"] = []any{map[string]any{"name": "nixpkgs", "narHash": listed}}
			bd["resolvedDependencies"] = []any{map[string]any{
				"digest": map[string]any{"sha256": "X2Vv6VVM3KjmBHo2ukVWe5YTVXRmqe//Kw2kr73OpZs="}, "name": "a.patch",
				"uri": "pkg:nix-fetch/a.patch?hash=sha256:X2Vv6VVM3KjmBHo2ukVWe5YTVXRmqe//Kw2kr73OpZs=",
			}}
		})
		return writeForeign(t, map[string][]byte{"provenance.json": prov, "evidence.json": foreignSNPEvidence(t, v1Binding(prov, [16]byte{})),
			"artifacts/demo": artifact, LockNix: lock})
	}
	rep := Verify(context.Background(), Options{Bundle: build(lockDoc(good), good), AllowSimulated: true})
	if !rep.OK {
		t.Fatalf("nix bundle: %+v", rep.Steps)
	}
	if d := stepOf(rep, StepDependencies).Detail; !strings.Contains(d, "1 root input narHash(es) equal flakeInputs") {
		t.Errorf("dependencies detail %q", d)
	}
	if st := stepOf(rep, StepProvenance); st.Status != Warn || len(rep.Warnings) != 1 ||
		rep.Warnings[0].Field != "predicate.buildDefinition.resolvedDependencies[0].digest.sha256" || rep.Warnings[0].Message != "base64, in-toto requires hex" {
		t.Errorf("provenance %+v, warnings %+v", st, rep.Warnings)
	}
	if st := stepOf(rep, StepManifest); st.Status != Pass {
		t.Errorf("manifest %+v", st)
	}
	rep = Verify(context.Background(), Options{Bundle: build(lockDoc(good), good), AllowSimulated: true, Strict: true})
	if rep.OK || rep.Failed != StepProvenance || !strings.Contains(stepOf(rep, StepProvenance).Detail, "--strict: 1 warning(s)") {
		t.Errorf("--strict: %+v", rep.Steps)
	}
	other := "sha256-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB="
	rep = Verify(context.Background(), Options{Bundle: build(lockDoc(good), other), AllowSimulated: true})
	if rep.OK || rep.Failed != StepDependencies || !strings.Contains(stepOf(rep, StepDependencies).Detail, `flakeInputs[0] "nixpkgs": narHash`) {
		t.Errorf("narHash mismatch: %+v", rep.Steps)
	}
}

// TestForeignMerkleRoot: the root follows rs_merkle (an odd node is
// carried up), and a provenance whose root does not match fails.
func TestForeignMerkleRoot(t *testing.T) {
	h := func(s string) [32]byte { return sha256.Sum256([]byte(s)) }
	pair := func(a, b [32]byte) [32]byte { return sha256.Sum256(append(a[:], b[:]...)) }
	for _, tc := range []struct {
		leaves []string
		want   [32]byte
	}{
		{[]string{"a"}, h("a")},
		{[]string{"a", "b"}, pair(h("a"), h("b"))},
		{[]string{"a", "b", "c"}, pair(pair(h("a"), h("b")), h("c"))},
		{[]string{"a", "b", "c", "d", "e"}, pair(pair(pair(h("a"), h("b")), pair(h("c"), h("d"))), h("e"))},
	} {
		got, err := foreignMerkleRoot(tc.leaves)
		if err != nil || got != tc.want {
			t.Errorf("%v: %x, %v; want %x", tc.leaves, got, err, tc.want)
		}
	}
	if _, err := foreignMerkleRoot(nil); err == nil {
		t.Error("no leaves: no error")
	}
	artifact, lock := []byte("bin"), []byte("lock")
	prov := foreignCargoProvenance(t, artifact, lock, nil)
	prov = bytes.Replace(prov, []byte(`"pkg:cargo/anyhow@1.0.100"`), []byte(`"pkg:cargo/anyhow@1.0.101"`), 1)
	dir := writeForeign(t, map[string][]byte{"provenance.json": prov, "evidence.json": foreignSNPEvidence(t, v1Binding(prov, [16]byte{}))})
	rep := Verify(context.Background(), Options{Bundle: dir, AllowSimulated: true})
	if rep.OK || rep.Failed != StepManifest || !strings.Contains(stepOf(rep, StepManifest).Detail, "input Merkle root recomputed") {
		t.Errorf("edited leaf: %+v", rep.Steps)
	}
}

// TestForeignBundleBadInput: a foreign bundle's layout faults are refused
// at the bundle step, naming the file.
func TestForeignBundleBadInput(t *testing.T) {
	artifact, lock := []byte("bin"), []byte("lock")
	prov := foreignCargoProvenance(t, artifact, lock, nil)
	ev := foreignSNPEvidence(t, v1Binding(prov, [16]byte{}))
	for _, tc := range []struct {
		name  string
		setup func(dir string) error
		want  string
	}{
		{"symlinked provenance", func(dir string) error {
			os.Remove(filepath.Join(dir, "artifacts", "demo"))
			return os.Symlink("../provenance.json", filepath.Join(dir, "artifacts", "demo"))
		}, "artifacts/demo: a symbolic link"},
		{"symlinked lock file", func(dir string) error {
			return os.Symlink("provenance.json", filepath.Join(dir, LockCargo))
		}, "Cargo.lock: a symbolic link"},
		{"a Kettle manifest", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "manifest.json"), []byte("{}"), 0o644)
		}, "manifest.json: a Kettle bundle file"},
		{"a FIFO as artifact", func(dir string) error {
			os.Remove(filepath.Join(dir, "artifacts", "demo"))
			return mkfifo(filepath.Join(dir, "artifacts", "demo"))
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeForeign(t, map[string][]byte{"provenance.json": prov, "evidence.json": ev, "artifacts/demo": artifact})
			if err := tc.setup(dir); err != nil {
				t.Fatal(err)
			}
			rep := Verify(context.Background(), Options{Bundle: dir, AllowSimulated: true})
			if tc.want == "" {
				// Not a regular file: listed as unknown, never read.
				if !rep.OK || !strings.Contains(stepOf(rep, StepBundle).Detail, "artifacts/demo") {
					t.Errorf("%+v", rep.Steps)
				}
				return
			}
			if rep.OK || rep.Failed != StepBundle || !strings.Contains(stepOf(rep, StepBundle).Detail, tc.want) {
				t.Errorf("failed at %q: %+v", rep.Failed, rep.Steps)
			}
		})
	}
}

func mkfifo(p string) error { return syscall.Mkfifo(p, 0o644) }

// FuzzForeignProvenance: no provenance document panics the readers of a
// foreign provenance (the statement, its in-toto findings, its Merkle
// leaves and root) nor the flake.lock reader.
func FuzzForeignProvenance(f *testing.F) {
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"AAAA"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"https://lunal.dev/kettle/nix@v1","resolvedDependencies":[{"name":"x","uri":"pkg:nix-fetch/x?hash=sha256:AA=","digest":{"sha256":"AA="}}]}}}`))
	f.Add([]byte(`{"nodes":{"root":{"inputs":{"a":"a","b":["a","c"],"c":{"id":"a"}}},"a":{"locked":{"narHash":"sha256-x"}}}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		inTotoFindings(data)
		flakeLockNarHashes(data)
		st, err := decodeForeignStatement(data)
		if err != nil {
			return
		}
		if leaves, err := foreignMerkleLeaves(st); err == nil {
			if _, err := foreignMerkleRoot(leaves); err != nil {
				t.Fatalf("leaves without a root: %v", err)
			}
		}
	})
}
