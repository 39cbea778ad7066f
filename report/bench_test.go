package report

import (
	"fmt"
	"io"
	"testing"

	"github.com/kettle-build/kettle/rebuild"
)

// benchInputs is n bundles on two platforms, a third of them differing,
// each with a manifest of leaves leaves, most of them shared.
func benchInputs(n, leaves int) []Input {
	in := make([]Input, n)
	for i := range in {
		st := rebuild.Reproduced
		if i%3 == 0 {
			st = rebuild.Differs
		}
		path := fmt.Sprintf("/nix/store/%032d-pkg-%d", i%50, i%50)
		in[i].Result = result(fmt.Sprintf("bundles/%05d.tar", i), []string{"sev-snp", "tdx"}[i%2], out("out", path, st, "bin/x", "share/y"))
		in[i].Leaves = make([]string, leaves)
		for j := range in[i].Leaves {
			owner := 0
			if j%10 == 0 {
				owner = i // a tenth of the leaves are the bundle's own
			}
			in[i].Leaves[j] = fmt.Sprintf("drv:/nix/store/%032d-dep-%d-%d.drv:%s", j, j, owner, hexOf("x"))
		}
	}
	return in
}

// BenchmarkBuild aggregates 300 bundles of 3000 leaves each.
func BenchmarkBuild(b *testing.B) {
	in := benchInputs(300, 3000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Build(in, Options{Inputs: true, Top: 20}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRender writes the table and the page of that report.
func BenchmarkRender(b *testing.B) {
	rep, err := Build(benchInputs(300, 3000), Options{Inputs: true, Top: 20})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := WriteTable(io.Discard, rep); err != nil {
			b.Fatal(err)
		}
		if _, err := HTML(rep); err != nil {
			b.Fatal(err)
		}
	}
}
