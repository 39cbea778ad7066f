package nixinputs

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/nixbase32"
)

// fakeStorePath returns a syntactically valid /nix/store path for name,
// its hash derived from seed and name.
func fakeStorePath(seed, name string) string {
	sum := sha256.Sum256([]byte(seed + "\x00" + name))
	return "/nix/store/" + nixbase32.EncodeToString(sum[:20]) + "-" + name
}

// atermString quotes s as Nix writes strings in .drv files.
func atermString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}

// testDrv describes a derivation for writeATerm.
type testDrv struct {
	name      string
	outputs   map[string]Output
	inputDrvs map[string][]string
	inputSrcs []string
	builder   string
	args      []string
	env       map[string]string
}

// aterm renders d in canonical ATerm form (sorted lists), like Nix.
func (d testDrv) aterm() string {
	var b strings.Builder
	b.WriteString("Derive([")
	for i, name := range slices.Sorted(maps.Keys(d.outputs)) {
		o := d.outputs[name]
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "(%s,%s,%s,%s)", atermString(name), atermString(o.Path), atermString(o.HashAlgo), atermString(o.Hash))
	}
	b.WriteString("],[")
	for i, p := range slices.Sorted(maps.Keys(d.inputDrvs)) {
		if i > 0 {
			b.WriteByte(',')
		}
		outs := append([]string(nil), d.inputDrvs[p]...)
		sort.Strings(outs)
		q := make([]string, len(outs))
		for j, o := range outs {
			q[j] = atermString(o)
		}
		fmt.Fprintf(&b, "(%s,[%s])", atermString(p), strings.Join(q, ","))
	}
	b.WriteString("],[")
	srcs := append([]string(nil), d.inputSrcs...)
	sort.Strings(srcs)
	for i, s := range srcs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(atermString(s))
	}
	builder := d.builder
	if builder == "" {
		builder = "/bin/sh"
	}
	fmt.Fprintf(&b, "],%s,%s,[", atermString("x86_64-linux"), atermString(builder))
	for i, a := range d.args {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(atermString(a))
	}
	b.WriteString("],[")
	env := map[string]string{"name": d.name, "system": "x86_64-linux", "builder": builder}
	for k, v := range d.env {
		env[k] = v
	}
	for name, o := range d.outputs {
		env[name] = o.Path
	}
	for i, k := range slices.Sorted(maps.Keys(env)) {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "(%s,%s)", atermString(k), atermString(env[k]))
	}
	b.WriteString("])")
	return b.String()
}

// simpleDrv returns a derivation named name with one output and the given
// input derivations (each using "out").
func simpleDrv(seed, name string, inputs ...string) testDrv {
	in := map[string][]string{}
	for _, p := range inputs {
		in[p] = []string{"out"}
	}
	return testDrv{
		name:      name,
		outputs:   map[string]Output{"out": {Path: fakeStorePath(seed, name)}},
		inputDrvs: in,
		inputSrcs: []string{fakeStorePath(seed, name+"-src")},
		args:      []string{"-c", "echo " + name + " > $out"},
	}
}

// fakeStore is a directory laid out like a chroot store: drvs live at
// root + their logical /nix/store path.
type fakeStore struct {
	root string
	seed string
}

func newFakeStore(tb testing.TB) *fakeStore {
	tb.Helper()
	root := tb.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "nix", "store"), 0o755); err != nil {
		tb.Fatal(err)
	}
	return &fakeStore{root: root, seed: root}
}

// add writes d as a .drv and returns its logical path.
func (s *fakeStore) add(tb testing.TB, d testDrv) string {
	tb.Helper()
	p := fakeStorePath(s.seed, d.name+".drv")
	s.write(tb, p, d.aterm())
	return p
}

func (s *fakeStore) write(tb testing.TB, p, content string) {
	tb.Helper()
	if err := os.WriteFile(filepath.Join(s.root, p), []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// genClosure writes a DAG of n derivations to the store: node i depends on
// nodes 2i+1, 2i+2 and (sharing) 2i+3. It returns the root (node 0) and
// every path.
func (s *fakeStore) genClosure(tb testing.TB, n int) (string, []string) {
	tb.Helper()
	paths := make([]string, n)
	for i := n - 1; i >= 0; i-- {
		var deps []string
		for _, j := range []int{2*i + 1, 2*i + 2, 2*i + 3} {
			if j < n {
				deps = append(deps, paths[j])
			}
		}
		paths[i] = s.add(tb, simpleDrv(s.seed, fmt.Sprintf("gen-%d", i), deps...))
	}
	return paths[0], paths
}
