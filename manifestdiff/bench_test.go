package manifestdiff

import (
	"fmt"
	"testing"

	"github.com/kettle-build/kettle/provenance"
)

// bigClosures returns two version 2 manifests of about n leaves each, with
// the spread of changes of a source change low in a large closure: 40 % of
// the leaves are derivations and 40 % their outputs, 15 % sources and the
// rest fixed outputs and flake inputs; in B, 1 % of the sources changed, a
// tenth of the derivations (and so their outputs) changed, 40 outputs did
// not reproduce, 1 % of the fixed outputs changed and 100 derivations were
// added, 100 removed. Many derivations share a few names, as fetchers'
// "source" ones do.
func bigClosures(t testing.TB, n int) (a, b *provenance.Manifest) {
	t.Helper()
	drvs, srcs, fods := n*2/5, n*15/100, n*4/100
	flakeInputs := n - 2*drvs - srcs - fods
	var la, lb []provenance.Leaf
	name := func(i int) string {
		if i%10 == 0 {
			return "source" // a shared name
		}
		return fmt.Sprintf("pkg-%d", i)
	}
	for i := range drvs {
		nm := name(i)
		seedA, seedB := fmt.Sprint("d", i), fmt.Sprint("d", i)
		narA, narB := fmt.Sprint("n", i), fmt.Sprint("n", i)
		if i%10 == 3 { // a changed derivation
			seedB, narB = seedB+"'", narB+"'"
		}
		if i%1000 == 1 { // not reproduced
			narB = narB + " again"
		}
		pathA, pathB := sp(seedA, nm+".drv"), sp(seedB, nm+".drv")
		if i%400 != 7 { // removed in B
			la = append(la, provenance.DrvLeaf(pathA, digest(seedA)),
				provenance.DrvOutput{Drv: pathA, Output: "out", Path: sp(seedA, nm), By: provenance.ByNixDB, NarSHA256: digest(narA)}.Leaf())
		}
		if i%400 != 11 { // added in B
			lb = append(lb, provenance.DrvLeaf(pathB, digest(seedB)),
				provenance.DrvOutput{Drv: pathB, Output: "out", Path: sp(seedB, nm), By: provenance.ByNixDB, NarSHA256: digest(narB)}.Leaf())
		}
	}
	for i := range srcs {
		seedB := fmt.Sprint("s", i)
		if i%100 == 5 {
			seedB += "'"
		}
		la = append(la, provenance.SrcLeaf(sp(fmt.Sprint("s", i), fmt.Sprintf("src-%d.patch", i)), digest(fmt.Sprint("s", i))))
		lb = append(lb, provenance.SrcLeaf(sp(seedB, fmt.Sprintf("src-%d.patch", i)), digest(seedB)))
	}
	for i := range fods {
		hashB := fmt.Sprint("f", i)
		if i%100 == 9 {
			hashB += "'"
		}
		url := fmt.Sprintf("https://example.org/%d.tar.gz", i)
		la = append(la, provenance.FODLeaf(name(i), "recursive", "sha256", fmt.Sprintf("%x", digest(fmt.Sprint("f", i))), url))
		lb = append(lb, provenance.FODLeaf(name(i), "recursive", "sha256", fmt.Sprintf("%x", digest(hashB)), url))
	}
	for i := range flakeInputs {
		l := provenance.FlakeInputLeaf(fmt.Sprintf("input%d", i), fmt.Sprintf("github:o/r%d/abc", i), digest(fmt.Sprint("i", i)))
		la, lb = append(la, l), append(lb, l)
	}
	var err error
	if a, err = provenance.NewManifestVersion(provenance.ManifestV2, la); err != nil {
		t.Fatal(err)
	}
	if b, err = provenance.NewManifestVersion(provenance.ManifestV2, lb); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func TestBigClosures(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	a, b := bigClosures(t, 100_000)
	r, err := Diff(a, b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Leaves) < 99_000 || len(b.Leaves) < 99_000 {
		t.Fatalf("manifests of %d and %d leaves", len(a.Leaves), len(b.Leaves))
	}
	out := r.Counts[provenance.KindOutput]
	if out.NotReproduced != 40 || r.Rows[0].Change != NotReproduced {
		t.Errorf("%d not reproduced (want 40), first row %+v", out.NotReproduced, r.Rows[0])
	}
	if c := r.Counts[provenance.KindSrc]; c.Changed != 150 || c.Added != 0 || c.Removed != 0 {
		t.Errorf("src counts %+v, want 150 changed", c)
	}
	if c := r.Counts[provenance.KindDrv]; c.Changed < 3900 || c.Added != 100 || c.Removed != 100 {
		t.Errorf("drv counts %+v", c)
	}
}

// BenchmarkDiff100k compares two manifests of 100 000 leaves each.
func BenchmarkDiff100k(b *testing.B) {
	ma, mb := bigClosures(b, 100_000)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := Diff(ma, mb, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
