package manifestdiff

import (
	"encoding/hex"
	"strings"

	"github.com/kettle-build/kettle/internal/nixstore"
	"github.com/kettle-build/kettle/provenance"
)

// describe makes the row of a pair: its change and, in words, what
// differs.
func describe(kind provenance.LeafKind, p pair) Row {
	row := Row{Kind: kind, Change: Changed, Name: p.name, A: p.a.raw, B: p.b.raw, Pairing: p.pairing, pathA: p.a.path(), pathB: p.b.path()}
	a, b := p.a.leaf, p.b.leaf
	var parts []string
	switch kind {
	case provenance.KindSrc:
		parts = append(parts, pathChange("path", a.Name, b.Name), hashChange("NAR sha256", a.Value, b.Value))
	case provenance.KindDrv:
		parts = append(parts, pathChange("path", a.Name, b.Name), hashChange("ATerm sha256", a.Value, b.Value))
	case provenance.KindFOD:
		na, ma, ua := fodFields(a.Name)
		nb, mb, ub := fodFields(b.Name)
		parts = append(parts, textChange("name", na, nb), textChange("url", ua, ub), textChange("", ma, mb), hashChange("hash", a.Value, b.Value))
	case provenance.KindFlakeInput:
		_, ua := flakeInputFields(a.Name)
		_, ub := flakeInputFields(b.Name)
		parts = append(parts, textChange("url", ua, ub), hashChange("narHash", a.Value, b.Value))
	case provenance.KindToolchain:
		_, va, _ := strings.Cut(a.Name, " ")
		_, vb, _ := strings.Cut(b.Name, " ")
		parts = append(parts, textChange("version", va, vb), hashChange("binary sha256", a.Value, b.Value))
	case provenance.KindSource:
		if a.Name == provenance.RevName {
			parts = append(parts, textChange("rev", a.Value, b.Value))
		} else {
			parts = append(parts, textChange("url", a.Name, b.Name), hashChange("narHash", a.Value, b.Value))
		}
	case provenance.KindOutput:
		row.Name = rowName(p.a)
		row.Change, parts = describeOutputs(p)
	}
	row.Detail = joinParts(parts)
	return row
}

// describeOutputs says how two output leaves differ. Outputs of one .drv
// whose contents differ did not reproduce.
func describeOutputs(p pair) (Change, []string) {
	a, b := p.a.out, p.b.out
	var parts []string
	if !p.sameDrv {
		parts = append(parts, pathChange("drv", a.Drv, b.Drv))
	}
	switch {
	case !a.Realised() || !b.Realised():
		parts = append(parts, absence(a, "A"), absence(b, "B"), "not compared")
		if a.Path != b.Path {
			parts = append(parts, pathChange("path", a.Path, b.Path))
		}
		return Changed, parts
	case p.sameDrv && (a.NarSHA256 != b.NarSHA256 || a.Path != b.Path):
		parts = append(parts, pathChange("path", a.Path, b.Path),
			"NAR sha256 "+shortHex(hexOf(a.NarSHA256))+" (by="+string(a.By)+") → "+shortHex(hexOf(b.NarSHA256))+" (by="+string(b.By)+")")
		return NotReproduced, parts
	}
	parts = append(parts, pathChange("path", a.Path, b.Path), hashChange("NAR sha256", hexOf(a.NarSHA256), hexOf(b.NarSHA256)))
	if a.NarSHA256 == b.NarSHA256 && !p.sameDrv {
		parts = append(parts, "the derivation changed, its output did not")
	}
	if a.By != b.By {
		parts = append(parts, "hashed by="+string(a.By)+" → by="+string(b.By))
	}
	return Changed, parts
}

// absence says that an output was not in the store after one build.
func absence(o provenance.DrvOutput, label string) string {
	if o.Realised() {
		return ""
	}
	return "not in the store after build " + label + " (by=none)"
}

func hexOf(h [32]byte) string { return hex.EncodeToString(h[:]) }

// pathChange describes two store paths, "" when they are equal.
func pathChange(what, a, b string) string {
	if a == b {
		return ""
	}
	return what + " " + shortPath(a) + " → " + shortPath(b)
}

// hashChange describes two digests in hex.
func hashChange(what, a, b string) string {
	if a == b {
		return "same " + what + " " + shortHex(a)
	}
	return what + " " + shortHex(a) + " → " + shortHex(b)
}

// textChange describes two strings, "" when they are equal.
func textChange(what, a, b string) string {
	if a == b {
		return ""
	}
	if what == "" {
		return a + " → " + b
	}
	return what + " " + a + " → " + b
}

func joinParts(parts []string) string {
	var kept []string
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, ", ")
}

// shortHex is the first 12 digits of a digest.
func shortHex(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// ShortPath shortens a store path for a table: the first 8 characters of
// its hash and its name ("qaqmhify…-hello.sh"); anything else is returned
// as it is.
func ShortPath(p string) string { return shortPath(p) }

func shortPath(p string) string {
	sp, err := nixstore.ParsePath(p)
	if err != nil {
		return p
	}
	return sp.Hash[:8] + "…-" + sp.Name
}
