package report

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kettle-build/kettle/rebuild"
	"time"
)

// chromium runs headless Chromium (Debian's chromium) on the page with
// the arguments given and returns its standard output. It skips the test
// when Chromium is not installed.
func chromium(t *testing.T, page string, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (Debian's chromium package; `make deps` installs it): the page is not rendered")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	argv := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + t.TempDir(),
		"--no-first-run", "--disable-extensions", "--disable-background-networking", "--hide-scrollbars",
	}, args...)
	argv = append(argv, "file://"+page)
	cmd := exec.CommandContext(ctx, bin, argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// browserReport is the report the browser tests render: two platforms,
// bundles that reproduced and bundles that differ, one not built, one
// unverified, and a store path that tries to be markup.
func browserReport(t *testing.T) (*Report, string) {
	t.Helper()
	evil := "/nix/store/00000000000000000000000000000000-evil<b>bold</b>&amp;"
	in := sample()
	in = append(in,
		Input{Result: result("b/snp-4.tar", "sev-snp", out("out", helloPath, rebuild.Reproduced))},
		Input{Result: result("b/snp-5.tar", "sev-snp", out("lib", evil, rebuild.Differs, "lib/x.so"))},
	)
	leaf := "src:/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-stamp.sh:" + hexOf("stamp")
	for i := range in {
		in[i].Leaves = []string{leaf}
	}
	rep, err := Build(in, Options{Inputs: true})
	if err != nil {
		t.Fatal(err)
	}
	return rep, evil
}

// TestHTMLInChromium renders the page in headless Chromium and checks what
// its DOM shows once the page is loaded: the totals, a row per platform,
// the differing outputs (a hostile store path as plain text), and the
// chart's bars with their data and accessible titles.
func TestHTMLInChromium(t *testing.T) {
	rep, evil := browserReport(t)
	page := filepath.Join(t.TempDir(), "report.html")
	if err := WriteHTML(page, rep); err != nil {
		t.Fatal(err)
	}
	dom := parsePage(t, chromium(t, page, "--dump-dom"))

	if got, want := dom.byID(t, "bundle-totals").textContent(), "8 bundles: 3 reproduced, 3 differ, 1 not built, 1 unverified"; got != want {
		t.Errorf("bundle totals %q, want %q", got, want)
	}
	if got, want := dom.byID(t, "output-totals").textContent(), "9 outputs: 5 reproduced, 3 differ, 1 not built, 0 unverified"; got != want {
		t.Errorf("output totals %q, want %q", got, want)
	}

	var rows []string
	for _, tr := range dom.byID(t, "platforms").findAll(func(n *node) bool { return n.name == "tr" && n.attr["data-platform"] != "" }) {
		var cells []string
		for _, c := range tr.children {
			cells = append(cells, c.textContent())
		}
		rows = append(rows, strings.Join(cells, " "))
	}
	if want := []string{"sev-snp 5 2 2 1 0 2 of 6", "tdx 3 1 1 0 1 1 of 3"}; !slices.Equal(rows, want) {
		t.Errorf("platform rows %q, want %q", rows, want)
	}

	var outputs []string
	for _, tr := range dom.byID(t, "differing-outputs").findAll(func(n *node) bool { return n.hasClass("differing-output") }) {
		name := tr.findAll(func(n *node) bool { return n.hasClass("output-name") })
		if len(name) != 1 {
			t.Fatalf("a differing output row without its name: %q", tr.textContent())
		}
		outputs = append(outputs, name[0].textContent()+" "+tr.attr["data-store-path"])
	}
	if want := []string{"out " + helloPath, "lib " + evil}; !slices.Equal(outputs, want) {
		t.Errorf("differing outputs %q, want %q", outputs, want)
	}
	if n := len(dom.findAll(func(n *node) bool { return n.name == "b" })); n != 0 {
		t.Errorf("the hostile store path made %d <b> elements", n)
	}

	svg := dom.byID(t, "chart")
	if got := svg.attr["role"]; got != "img" {
		t.Errorf("chart role %q, want img", got)
	}
	if got := dom.byID(t, "chart-title").textContent(); got != "Bundles by builder platform and outcome" {
		t.Errorf("chart title %q", got)
	}
	if got := dom.byID(t, "chart-desc").textContent(); !strings.Contains(got, "sev-snp: 2 reproduced, 2 differ, 1 not built, 0 unverified; tdx: 1 reproduced, 1 differs, 0 not built, 1 unverified") {
		t.Errorf("chart description %q does not give every count", got)
	}
	var bars []string
	for _, r := range svg.findAll(func(n *node) bool { return n.name == "rect" && n.hasClass("bar") }) {
		title := r.findAll(func(n *node) bool { return n.name == "title" })
		if len(title) != 1 {
			t.Fatalf("bar %v has no title", r.attr)
		}
		bars = append(bars, fmt.Sprintf("%s %s %s %s|%s", r.attr["data-platform"], r.attr["data-status"], r.attr["data-count"], r.attr["height"], title[0].textContent()))
	}
	// The tallest bar (2 bundles) is the whole plot, 200 units high.
	want := []string{
		"sev-snp reproduced 2 200|sev-snp: 2 bundles reproduced",
		"sev-snp differs 2 200|sev-snp: 2 bundles differ",
		"sev-snp not-built 1 100|sev-snp: 1 bundle not built",
		"sev-snp unverified 0 0|sev-snp: 0 bundles unverified",
		"tdx reproduced 1 100|tdx: 1 bundle reproduced",
		"tdx differs 1 100|tdx: 1 bundle differs",
		"tdx not-built 0 0|tdx: 0 bundles not built",
		"tdx unverified 1 100|tdx: 1 bundle unverified",
	}
	if !slices.Equal(bars, want) {
		t.Errorf("bars\n got %q\nwant %q", bars, want)
	}
	var labels []string
	for _, g := range svg.findAll(func(n *node) bool { return n.name == "text" && n.hasClass("group") }) {
		labels = append(labels, g.findAll(func(n *node) bool { return n.name == "title" })[0].textContent())
	}
	if !slices.Equal(labels, []string{"sev-snp", "tdx"}) {
		t.Errorf("platform labels under the bars %q", labels)
	}
}

// TestHTMLScreenshot has Chromium draw the page and checks the picture: it
// is not blank, and each outcome's bar colour covers about the area its
// bars have.
func TestHTMLScreenshot(t *testing.T) {
	rep, _ := browserReport(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := WriteHTML(page, rep); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "shot.png")
	chromium(t, page, "--screenshot="+shot, "--window-size=1000,800", "--force-device-scale-factor=1")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("chromium wrote no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	colours := map[Status][3]uint8{
		Reproduced: {0x2e, 0x9d, 0x5b},
		Differs:    {0xd9, 0x30, 0x25},
		NotBuilt:   {0x9a, 0xa0, 0xa6},
		Unverified: {0xf2, 0x99, 0x00},
	}
	counts := map[Status]int{}
	distinct := map[[3]uint8]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := rgb(img, x, y)
			distinct[c] = true
			for s, want := range colours {
				if near(c, want) {
					counts[s]++
				}
			}
		}
	}
	if len(distinct) < 10 {
		t.Fatalf("the screenshot has %d colours: blank", len(distinct))
	}
	// Each bar is 28 units wide and 100 per bundle; the legend's 12×12
	// swatch adds to every colour.
	c := rep.Chart()
	for _, s := range statuses() {
		area := 12 * 12
		for _, bar := range c.Bars {
			if bar.Status == s {
				area += bar.W * bar.H
			}
		}
		t.Logf("%s: %d pixels of its colour, bars and swatch %d", s, counts[s], area)
		if got := counts[s]; got < area*9/10 || got > area*11/10 {
			t.Errorf("%s: %d pixels of its colour, want about %d", s, got, area)
		}
	}
}

func rgb(img image.Image, x, y int) [3]uint8 {
	r, g, b, _ := img.At(x, y).RGBA()
	return [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}
}

func near(a, b [3]uint8) bool {
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < -3 || d > 3 {
			return false
		}
	}
	return true
}
