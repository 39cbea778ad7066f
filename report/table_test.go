package report

import (
	"strings"
	"testing"
	"unicode"

	"github.com/kettle-build/kettle/rebuild"
)

func TestWriteTable(t *testing.T) {
	in := sample()
	leaf := "src:/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-stamp.sh:" + hexOf("stamp")
	for i := range in {
		in[i].Leaves = []string{leaf}
	}
	rep, err := Build(in, Options{Inputs: true})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteTable(&b, rep); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"6 bundles: 2 reproduced, 2 differ, 1 not built, 1 unverified\n",
		"7 outputs: 4 reproduced, 2 differ, 1 not built, 0 unverified\n",
		"\nPLATFORM  BUNDLES  REPRODUCED  DIFFER  NOT BUILT  UNVERIFIED  OUTPUTS DIFFER\n",
		"\nsev-snp   3        1           1       1          0           1 of 4\n",
		"\ntdx       3        1           1       0          1           1 of 3\n",
		"out               " + helloPath + "  2        sev-snp, tdx  3: bin/hello, lib/libx.so, share/stamp\n",
		"Inputs of the 2 differing bundle(s), 1 of 1 shown",
		"2       2      src   " + leaf + "\n",
		"b/snp-3.tar  sev-snp   not built   0/1 reproduced  out: nix build failed\n",
		"b/tdx-3.tar  tdx       unverified  0/0 reproduced  binding: report_data does not bind provenance.json\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the table lacks %q:\n%s", want, got)
		}
	}
}

// Text from the results cannot write control sequences to the terminal
// or add lines to the table.
func TestWriteTableHostileText(t *testing.T) {
	r := result("b/\x1b[2Jevil.tar", "sev\nsnp", out("out\tx", "/nix/store/00000000000000000000000000000000-x\r\nforged line", rebuild.Differs, "bin/\x1b]0;title\x07"))
	r.Error = "\u202eright-to-left override"
	r.Deep = true
	r.Closure = &rebuild.Closure{FirstDiffering: []string{"/nix/store/x.drv\x00"}}
	rep, err := Build([]Input{{Result: r}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteTable(&b, rep); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, c := range got {
		if c != '\n' && !unicode.IsPrint(c) {
			t.Fatalf("the table holds %U:\n%s", c, got)
		}
	}
	if n := strings.Count(got, "\n"); n != 11 {
		t.Errorf("%d lines, want 11:\n%s", n, got)
	}
	for _, want := range []string{`"b/\x1b[2Jevil.tar"`, `"sev\nsnp"`, `"out\tx"`, `forged line"`, `"bin/\x1b]0;title\a"`, `\x00"`} {
		if !strings.Contains(got, want) {
			t.Errorf("the table lacks %s quoted:\n%s", want, got)
		}
	}
}
