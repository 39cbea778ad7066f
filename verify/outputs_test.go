package verify

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/provenance"
	"github.com/kettle-build/kettle/provenance/merkle"
)

// A second derivation of the test closure, an intermediate one.
const (
	testLibDrv = "/nix/store/1123456789abcdfghijklmnpqrsvwxyz-lib.drv"
	testLibOut = "/nix/store/1123456789abcdfghijklmnpqrsvwxyz-lib"
)

// rawManifest is a manifest over leaves that NewManifest would refuse for
// their output rules, with the root computed from the leaves as they are.
func rawManifest(t *testing.T, version int, leaves []provenance.Leaf) *provenance.Manifest {
	t.Helper()
	strs := make([]string, len(leaves))
	for i, l := range leaves {
		strs[i] = l.String()
	}
	sort.Strings(strs)
	data := make([][]byte, len(strs))
	for i, s := range strs {
		data[i] = []byte(s)
	}
	return &provenance.Manifest{Version: version, Leaves: strs, Root: merkle.Root(data)}
}

// mapStore is a StoreHasher over fixed NAR hashes.
type mapStore map[string][32]byte

func (s mapStore) NarSHA256(_ context.Context, p string) ([32]byte, error) {
	sum, ok := s[p]
	if !ok {
		return sum, fmt.Errorf("%s: not in the local store", p)
	}
	return sum, nil
}

// withLib adds the intermediate derivation and its output, hashed by the
// Nix database, to the leaves.
func withLib(leaves []provenance.Leaf) []provenance.Leaf {
	return append(leaves, provenance.DrvLeaf(testLibDrv, sha256.Sum256([]byte("lib.drv"))),
		provenance.DrvOutput{Drv: testLibDrv, Output: "out", Path: testLibOut, By: provenance.ByNixDB, NarSHA256: sha256.Sum256([]byte("lib"))}.Leaf())
}

func TestVerifyOutputs(t *testing.T) {
	nonce := sha256.Sum256([]byte("nonce"))
	a, err := attest.NewAttester(attest.PlatformSimSNP, attest.AttesterOptions{HostData: nonce})
	if err != nil {
		t.Fatal(err)
	}
	// The intermediate derivation is in the manifest but not in the
	// provenance's resolvedDependencies: add it there too.
	withLibDep := func(b *provenance.BuildInfo) {
		b.Derivations = append(b.Derivations, provenance.Dependency{Name: testLibDrv, SHA256: sha256.Sum256([]byte("lib.drv"))})
	}
	good := writeManifestBundle(t, nonce, a, withLibDep, provenance.ManifestV2, withLib)
	rep := Verify(context.Background(), Options{Bundle: good, AllowSimulated: true})
	if !rep.OK {
		t.Fatalf("version 2 bundle failed at %s: %+v", rep.Failed, rep.Steps)
	}
	if st := stepResult(rep, StepOutputs); st.Status != Pass || !strings.Contains(st.Detail, "2 outputs of 2 derivations (by=kettle 1, by=nix-db 1, absent 0)") {
		t.Errorf("outputs step = %+v", st)
	}

	v1 := writeManifestBundle(t, nonce, a, nil, provenance.ManifestV1, nil)
	rep = Verify(context.Background(), Options{Bundle: v1, AllowSimulated: true})
	if !rep.OK {
		t.Fatalf("version 1 bundle failed at %s: %+v", rep.Failed, rep.Steps)
	}
	if st := stepResult(rep, StepOutputs); st.Status != Skipped || !strings.Contains(st.Detail, "manifest version 1 has no output leaves") {
		t.Errorf("outputs step of a version 1 bundle = %+v", st)
	}
	rep = Verify(context.Background(), Options{Bundle: v1, AllowSimulated: true, DeepHash: true, Store: mapStore{}})
	if rep.OK || rep.Failed != StepOutputs {
		t.Errorf("--deep-hash on a version 1 bundle: ok=%t failed=%s", rep.OK, rep.Failed)
	}

	subject := func() [32]byte {
		// The subject's NAR SHA-256, read back from the good bundle.
		b, err := provenance.OpenBundle(good)
		if err != nil {
			t.Fatal(err)
		}
		st, err := provenance.DecodeStatement(b.Provenance)
		if err != nil {
			t.Fatal(err)
		}
		return st.Subjects[0].SHA256
	}()

	for _, tc := range []struct {
		name    string
		version int
		lib     bool // the edit adds the intermediate derivation
		edit    func([]provenance.Leaf) []provenance.Leaf
		opts    Options
		want    string
	}{
		{"a derivation without output leaf", provenance.ManifestV2, true, func(l []provenance.Leaf) []provenance.Leaf {
			return append(l, provenance.DrvLeaf(testLibDrv, sha256.Sum256([]byte("lib.drv"))))
		}, Options{}, "drv leaf " + testLibDrv + " has no output leaf"},
		{"a subject without output leaf", provenance.ManifestV2, false, func(l []provenance.Leaf) []provenance.Leaf {
			return append(dropKind(l, provenance.KindOutput), provenance.DrvOutput{Drv: testDrv, Output: "out", Path: fakeOutput + "-other", By: provenance.ByKettle, NarSHA256: subject}.Leaf())
		}, Options{}, "subject " + fakeOutput + " has no output leaf"},
		{"a subject hashed by nix-db", provenance.ManifestV2, false, func(l []provenance.Leaf) []provenance.Leaf {
			return append(dropKind(l, provenance.KindOutput), provenance.DrvOutput{Drv: testDrv, Output: "out", Path: fakeOutput, By: provenance.ByNixDB, NarSHA256: subject}.Leaf())
		}, Options{}, "by=nix-db, want by=kettle"},
		{"the store disagrees under --deep-hash", provenance.ManifestV2, true, withLib,
			Options{DeepHash: true, Store: mapStore{fakeOutput: subject, testLibOut: sha256.Sum256([]byte("another lib"))}},
			"output " + testLibDrv + "!out: the NAR SHA-256 of " + testLibOut + " in the local store"},
		{"an output missing from the store under --deep-hash", provenance.ManifestV2, true, withLib,
			Options{DeepHash: true, Store: mapStore{fakeOutput: subject}}, testLibOut + ": not in the local store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var edit func(*provenance.BuildInfo)
			if tc.lib {
				edit = withLibDep
			}
			bundle := writeManifestBundle(t, nonce, a, edit, tc.version, tc.edit)
			opts := tc.opts
			opts.Bundle, opts.AllowSimulated = bundle, true
			rep := Verify(context.Background(), opts)
			if rep.OK || rep.Failed != StepOutputs {
				t.Fatalf("ok=%t failed=%q, want a failure at %s: %+v", rep.OK, rep.Failed, StepOutputs, rep.Steps)
			}
			if st := stepResult(rep, StepOutputs); !strings.Contains(st.Detail, tc.want) {
				t.Errorf("outputs step says %q, want it to mention %q", st.Detail, tc.want)
			}
		})
	}

	// With the store agreeing, --deep-hash passes and says so.
	rep = Verify(context.Background(), Options{Bundle: good, AllowSimulated: true, DeepHash: true,
		Store: mapStore{fakeOutput: subject, testLibOut: sha256.Sum256([]byte("lib"))}})
	if !rep.OK {
		t.Fatalf("--deep-hash with an agreeing store failed at %s: %+v", rep.Failed, rep.Steps)
	}
	if st := stepResult(rep, StepOutputs); !strings.Contains(st.Detail, "all 2 realised outputs re-hashed in the local store") {
		t.Errorf("outputs step = %+v", st)
	}
}

func dropKind(leaves []provenance.Leaf, kind provenance.LeafKind) []provenance.Leaf {
	var out []provenance.Leaf
	for _, l := range leaves {
		if l.Kind != kind {
			out = append(out, l)
		}
	}
	return out
}

func stepResult(r *Report, s Step) StepResult {
	for _, st := range r.Steps {
		if st.Step == s {
			return st
		}
	}
	return StepResult{}
}
