package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kettle-build/kettle/tlog"
)

// reportJSON is the part of `kettle report --json` the tests read.
type reportJSON struct {
	Version   int            `json:"version"`
	Bundles   map[string]int `json:"bundles"`
	Outputs   map[string]int `json:"outputs"`
	Platforms []struct {
		Platform string         `json:"platform"`
		Bundles  map[string]int `json:"bundles"`
	} `json:"platforms"`
	Differing []struct {
		Name           string   `json:"name"`
		StorePath      string   `json:"storePath"`
		Bundles        []string `json:"bundles"`
		Platforms      []string `json:"platforms"`
		TopLevel       bool     `json:"topLevel"`
		DifferingFiles []string `json:"differingFiles"`
	} `json:"differing"`
	SharedInputs *struct {
		DifferingBundles  int `json:"differingBundles"`
		ReproducedBundles int `json:"reproducedBundles"`
		Total             int `json:"total"`
		Leaves            []struct {
			Kind       string `json:"kind"`
			Leaf       string `json:"leaf"`
			Differing  int    `json:"differing"`
			Reproduced int    `json:"reproduced"`
		} `json:"leaves"`
	} `json:"sharedInputs"`
	Results []struct {
		Bundle   string `json:"bundle"`
		Platform string `json:"platform"`
		Status   string `json:"status"`
	} `json:"results"`
}

// unreproducibleBundle builds tests/testdata/rebuild-unrepro, whose output
// holds the time and random bytes, on the simulated TDX backend.
func unreproducibleBundle(t *testing.T) string {
	t.Helper()
	requireNix(t)
	out := filepath.Join(t.TempDir(), "unrepro.bundle")
	r := kettle(t, "build", "--attest", "sim-tdx", "-o", out, "path:"+filepath.Join(e2e.repo, "tests", "testdata", "rebuild-unrepro"))
	if r.code != 0 {
		t.Fatalf("kettle build rebuild-unrepro: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	return out
}

func decodeReport(t *testing.T, r result) reportJSON {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("kettle report: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var rep reportJSON
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("kettle report --json: not JSON (%v):\n%s", err, r.stdout)
	}
	return rep
}

// TestReport rebuilds two real bundles, examples/hello (reproducible, on
// sim-snp) and a build that stamps its output (on sim-tdx), and checks
// the report in each of its forms, from rebuilding, from saved results and
// from a transparency log.
func TestReport(t *testing.T) {
	hello := buildHello(t)
	unrepro := unreproducibleBundle(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")

	r := kettle(t, "report", "--allow-simulated", "--quiet", "--top", "0", "--json", "--html", page, hello, unrepro)
	rep := decodeReport(t, r)
	rebuilt := r.stdout
	checkTwoBundleReport(t, rep, hello, unrepro)

	// The page is there and says the same.
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2 bundles: 1 reproduced, 1 differs, 0 not built, 0 unverified", `data-platform="sim-snp"`, `data-platform="sim-tdx"`, "share/stamp.txt"} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("the page lacks %q", want)
		}
	}

	// The table.
	r = kettle(t, "report", "--allow-simulated", "--quiet", "-j", "2", hello, unrepro)
	if r.code != 0 {
		t.Fatalf("kettle report: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"2 bundles: 1 reproduced, 1 differs, 0 not built, 0 unverified\n", "\nsim-snp ", "\nsim-tdx ", "share/stamp.txt"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the table lacks %q:\n%s", want, r.stdout)
		}
	}

	t.Run("results", func(t *testing.T) {
		// Saved `kettle rebuild --json` output, one result after the other,
		// gives the same report without rebuilding.
		var saved bytes.Buffer
		for _, b := range []string{hello, unrepro} {
			r := kettle(t, "rebuild", "--allow-simulated", "--quiet", "--json", b)
			if r.stdout == "" {
				t.Fatalf("kettle rebuild %s: exit %d, no result\n%s", b, r.code, r.stderr)
			}
			saved.WriteString(r.stdout)
		}
		file := filepath.Join(t.TempDir(), "results.json")
		if err := os.WriteFile(file, saved.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		r := kettle(t, "report", "--results", file, "--top", "0", "--json")
		again := decodeReport(t, r)
		checkTwoBundleReport(t, again, hello, unrepro)
		if r.stdout != rebuilt {
			t.Errorf("the report of saved results differs from the report that rebuilt:\n%s\n%s", r.stdout, rebuilt)
		}

		// The same from standard input.
		cmd := exec.Command(e2e.kettle, "report", "--results", "-", "--top", "0", "--json")
		cmd.Stdin = bytes.NewReader(saved.Bytes())
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kettle report --results -: %v", err)
		}
		if string(out) != r.stdout {
			t.Errorf("the report of the results on standard input differs from that of the file:\n%s\n%s", out, r.stdout)
		}

		// A results file of another bundle's result is refused for the
		// shared inputs: the bundle at that path is not the one rebuilt.
		moved := strings.ReplaceAll(saved.String(), `"bundle": "`+unrepro+`"`, `"bundle": "`+hello+`"`)
		if moved == saved.String() {
			t.Fatal("the saved results do not name the bundle as expected")
		}
		os.WriteFile(file, []byte(moved), 0o644)
		r = kettle(t, "report", "--results", file)
		if r.code != 1 || !strings.Contains(r.stderr, "not the bundle that was rebuilt") {
			t.Errorf("results naming the wrong bundle: exit %d\n%s", r.code, r.stderr)
		}
	})

	t.Run("log", func(t *testing.T) {
		logDir, vkeyFile := logOf(t, hello, unrepro)
		r := kettle(t, "report", "--log", logDir, "--log-key", vkeyFile, "--allow-simulated", "--quiet", "--json")
		rep := decodeReport(t, r)
		if rep.Bundles["reproduced"] != 1 || rep.Bundles["differs"] != 1 || len(rep.Results) != 2 {
			t.Fatalf("report of the log: %+v", rep)
		}
		for _, row := range rep.Results {
			if !strings.HasPrefix(row.Bundle, filepath.Join(logDir, "bundles")+"/") {
				t.Errorf("bundle %s is not the log's stored copy", row.Bundle)
			}
		}
		// Another key does not verify the log: nothing is rebuilt.
		_, other, err := tlog.GenerateKey("example.org/other-log")
		if err != nil {
			t.Fatal(err)
		}
		r = kettle(t, "report", "--log", logDir, "--log-key", other, "--allow-simulated")
		if r.code != 1 {
			t.Errorf("a log checked with another key: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
}

func checkTwoBundleReport(t *testing.T, rep reportJSON, hello, unrepro string) {
	t.Helper()
	if rep.Version != 1 {
		t.Errorf("version %d, want 1", rep.Version)
	}
	if rep.Bundles["reproduced"] != 1 || rep.Bundles["differs"] != 1 || rep.Bundles["notBuilt"] != 0 || rep.Bundles["unverified"] != 0 {
		t.Errorf("bundles %v, want 1 reproduced and 1 differing", rep.Bundles)
	}
	var platforms []string
	for _, p := range rep.Platforms {
		platforms = append(platforms, p.Platform)
	}
	if !slices.Equal(platforms, []string{"sim-snp", "sim-tdx"}) {
		t.Errorf("platforms %v, want sim-snp and sim-tdx", platforms)
	}
	var statuses []string
	for _, row := range rep.Results {
		statuses = append(statuses, row.Bundle+" "+row.Status)
	}
	want := []string{hello + " reproduced", unrepro + " differs"}
	slices.Sort(want)
	if !slices.Equal(statuses, want) {
		t.Errorf("bundles %v, want %v", statuses, want)
	}
	if len(rep.Differing) != 1 {
		t.Fatalf("differing outputs %+v, want the stamped one", rep.Differing)
	}
	d := rep.Differing[0]
	if !strings.HasSuffix(d.StorePath, "-stamped") || d.Name != "out" || !d.TopLevel || !slices.Equal(d.Bundles, []string{unrepro}) ||
		!slices.Contains(d.DifferingFiles, "share/stamp.txt") || slices.Contains(d.DifferingFiles, "share/stable.txt") {
		t.Errorf("differing output %+v: want the stamped output of %s, share/stamp.txt differing and share/stable.txt not", d, unrepro)
	}
	s := rep.SharedInputs
	if s == nil || s.DifferingBundles != 1 || s.ReproducedBundles != 1 || s.Total != len(s.Leaves) || len(s.Leaves) == 0 {
		t.Fatalf("shared inputs %+v", s)
	}
	// The differing bundle's own derivation, which hello does not have,
	// ranks above the toolchain both builds share.
	stamped, toolchain := -1, -1
	for i, l := range s.Leaves {
		switch {
		case l.Kind == "drv" && strings.Contains(l.Leaf, "-stamped.drv:"):
			stamped = i
			if l.Differing != 1 || l.Reproduced != 0 {
				t.Errorf("the stamped derivation: %+v", l)
			}
		case l.Kind == "toolchain" && strings.HasPrefix(l.Leaf, "toolchain:nix "):
			toolchain = i
			if l.Differing != 1 || l.Reproduced != 1 {
				t.Errorf("the nix toolchain, which both builds used: %+v", l)
			}
		}
	}
	if stamped < 0 || toolchain < 0 || stamped > toolchain {
		t.Errorf("the stamped drv at rank %d, the nix toolchain at %d: want both, the drv first", stamped, toolchain)
	}
}

// logOf makes a transparency log holding the bundles and returns its
// directory and the file of its verifier key.
func logOf(t *testing.T, bundles ...string) (dir, vkeyFile string) {
	t.Helper()
	ctx := context.Background()
	skey, vkey, err := tlog.GenerateKey("example.org/kettle-e2e-log")
	if err != nil {
		t.Fatal(err)
	}
	key, err := tlog.ParseSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	dir = filepath.Join(base, "log")
	if err := tlog.Init(ctx, dir, key); err != nil {
		t.Fatal(err)
	}
	l, err := tlog.Open(ctx, dir, key)
	if err != nil {
		t.Fatal(err)
	}
	var items []tlog.Item
	for _, b := range bundles {
		s, err := l.Stage(b)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, tlog.Item{Bundle: s, Verdict: tlog.Verdict{OK: true}})
	}
	if _, err := l.Append(ctx, items, tlog.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	vkeyFile = filepath.Join(base, "log.vkey")
	if err := os.WriteFile(vkeyFile, []byte(vkey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, vkeyFile
}

// TestReportBadInput: usage errors exit 2, input that cannot be read 1,
// each with a message that names the flag or file.
func TestReportBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"bundle": 1}`), 0o644)
	empty := filepath.Join(dir, "empty.json")
	os.WriteFile(empty, nil, 0o644)
	_, vkey, err := tlog.GenerateKey("example.org/kettle-e2e-log")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"nothing to report on", nil, 2, "give bundles, --results files or --log DIR"},
		{"bundles and results", []string{"--results", bad, "a.tar"}, 2, "exactly one of them"},
		{"log and results", []string{"--results", bad, "--log", dir, "--log-key", bad}, 2, "exactly one of them"},
		{"log without key", []string{"--log", dir}, 2, "--log and --log-key go together"},
		{"key without log", []string{"--log-key", bad, "a.tar"}, 2, "--log and --log-key go together"},
		{"negative top", []string{"--top", "-1", "a.tar"}, 2, "--top -1"},
		{"rebuild flag with results", []string{"--results", bad, "--deep"}, 2, "--deep: only when rebuilding"},
		{"verify flag with results", []string{"--results", bad, "--allow-simulated"}, 2, "--allow-simulated: only when rebuilding"},
		{"nonce", []string{"--nonce", testNonce, "a.tar"}, 2, "--nonce: each bundle binds its own nonce"},
		{"jobs out of range", []string{"-j", "-1", "a.tar"}, 2, "--jobs -1"},
		{"bad max-files", []string{"--max-files", "-1", "a.tar"}, 2, "--max-files -1"},
		{"unknown flag", []string{"--frobnicate", "a.tar"}, 2, "unknown flag"},
		{"missing results file", []string{"--results", filepath.Join(dir, "missing.json")}, 1, "missing.json"},
		{"results file is a directory", []string{"--results", dir}, 1, "not a regular file"},
		{"results file is a device", []string{"--results", "/dev/zero"}, 1, "/dev/zero: a character device"},
		{"bad results", []string{"--results", bad}, 1, bad + ": json: cannot unmarshal number"},
		{"empty results", []string{"--results", empty}, 1, "empty, want one or more results"},
		{"standard input twice", []string{"--results", "-", "--results", "-"}, 2, "standard input given twice"},
		{"bad key", []string{"--log", dir, "--log-key", "not a key"}, 2, "--log-key"},
		{"not a log", []string{"--log", dir, "--log-key", vkey}, 1, "log " + dir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := kettle(t, append([]string{"report"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("kettle report %v: exit %d, want %d with %q\n%s", tc.args, r.code, tc.code, tc.want, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("a failed report printed to stdout:\n%s", r.stdout)
			}
		})
	}
}
