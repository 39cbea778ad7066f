package report

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kettle-build/kettle/rebuild"
)

// hostile is a report whose every text from the results tries to break
// out of where the page puts it.
func hostile(t *testing.T) (*Report, map[string]string) {
	t.Helper()
	h := map[string]string{
		"path":     `/nix/store/00000000000000000000000000000000-x"><script>alert(1)</script>`,
		"name":     `out</code><img src=x onerror=alert(1)>`,
		"ref":      `path:/x?a=1&b="2"'<svg onload=alert(1)>`,
		"platform": `</title><script>alert(2)</script>`,
		"file":     `</li><iframe src="https://evil.example/"></iframe>`,
		"bundle":   `b/<b>bold</b>&amp;.tar`,
		"reason":   `<!-- ]]> --><style>body{display:none}</style>`,
		"leaf":     `src:/nix/store/11111111111111111111111111111111-<textarea>:` + hexOf("leaf"),
	}
	bad := result(h["bundle"], h["platform"], out(h["name"], h["path"], rebuild.Differs, h["file"]))
	bad.FlakeRef = h["ref"]
	other := result("ok.tar", "sev-snp", out("out", helloPath, rebuild.Reproduced))
	broken := unverified("broken.tar", "sev-snp", h["reason"])
	rep, err := Build([]Input{
		{Result: bad, Leaves: []string{h["leaf"]}},
		{Result: other},
		{Result: broken},
	}, Options{Inputs: true, Title: `<script>document.title</script>`})
	if err != nil {
		t.Fatal(err)
	}
	return rep, h
}

func TestHTMLEscapesHostileText(t *testing.T) {
	rep, h := hostile(t)
	page, err := HTML(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{"<script", "<img", "<iframe", "<svg onload", "<b>", "<textarea", "<!--", "<style>body"} {
		if bytes.Contains(page, []byte(raw)) {
			t.Errorf("the page holds %q unescaped", raw)
		}
	}
	doc := parsePage(t, page)
	counts := doc.elementCounts()
	for _, name := range []string{"script", "img", "iframe", "b", "textarea"} {
		if counts[name] != 0 {
			t.Errorf("%d <%s> elements in the page", counts[name], name)
		}
	}
	if counts["style"] != 1 || counts["svg"] != 1 || counts["title"] != 1+1+len(rep.Chart().Bars)+len(rep.Platforms) {
		t.Errorf("element counts %v: want 1 style, 1 svg and a title for the page, the chart, each bar and each platform name", counts)
	}
	// Each hostile text reads back as the text it is.
	texts := map[string]bool{}
	for _, n := range doc.findAll(func(n *node) bool { return n.name == "code" || n.name == "td" || n.name == "title" || n.name == "h1" }) {
		texts[n.text.String()] = true
	}
	for _, k := range []string{"path", "name", "ref", "file", "bundle", "reason", "leaf", "platform"} {
		if !texts[h[k]] {
			t.Errorf("no element's text is the %s %q", k, h[k])
		}
	}
	bars := doc.findAll(func(n *node) bool { return n.name == "rect" && n.hasClass("bar") })
	var platforms []string
	for _, b := range bars {
		platforms = append(platforms, b.attr["data-platform"])
	}
	if !slices.Contains(platforms, h["platform"]) {
		t.Errorf("no bar's data-platform is the platform %q: %q", h["platform"], platforms)
	}
}

func TestHTMLSelfContained(t *testing.T) {
	rep, _ := hostile(t)
	page, err := HTML(rep)
	if err != nil {
		t.Fatal(err)
	}
	doc := parsePage(t, page)
	for _, n := range doc.findAll(func(*node) bool { return true }) {
		for _, a := range []string{"src", "href", "srcset", "action", "xlink:href", "style"} {
			if v, ok := n.attr[a]; ok {
				t.Errorf("<%s %s=%q>: the page must load nothing and style only from its one stylesheet", n.name, a, v)
			}
		}
		if n.name == "link" || n.name == "script" || n.name == "object" || n.name == "embed" {
			t.Errorf("a <%s> element", n.name)
		}
	}
	css := doc.findAll(func(n *node) bool { return n.name == "style" })[0].text.String()
	for _, s := range []string{"url(", "@import", "@font-face"} {
		if strings.Contains(css, s) {
			t.Errorf("the stylesheet has %q", s)
		}
	}
	csp := doc.findAll(func(n *node) bool { return n.name == "meta" && n.attr["http-equiv"] == "Content-Security-Policy" })
	if len(csp) != 1 || !strings.HasPrefix(csp[0].attr["content"], "default-src 'none'") {
		t.Errorf("the page has no Content-Security-Policy that forbids loading: %v", csp)
	}
}

// The same report gives the same bytes, and results given in another
// order the same report.
func TestHTMLDeterministic(t *testing.T) {
	in := sample()
	a, err := Build(in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(in)
	b, err := Build(in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pa, err := HTML(a)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := HTML(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pa, pb) {
		t.Error("the same results in another order give another page")
	}
}

func TestWriteHTML(t *testing.T) {
	rep, err := Build(sample(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "report.html")
	if err := WriteHTML(p, rep); err != nil {
		t.Fatal(err)
	}
	want, _ := HTML(rep)
	if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, want) {
		t.Errorf("the file does not hold the page (%v)", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files beside the page, want none", len(entries)-1)
	}
	// A page that cannot be written leaves nothing.
	if err := WriteHTML(filepath.Join(dir, "missing", "report.html"), rep); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("writing into a missing directory: %v, want an error naming it", err)
	}
}

func TestChart(t *testing.T) {
	rep, err := Build(sample(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Chart()
	if len(c.Bars) != 4*len(rep.Platforms) {
		t.Fatalf("%d bars, want 4 per platform", len(c.Bars))
	}
	for _, b := range c.Bars {
		if b.Y+b.H != c.Baseline {
			t.Errorf("bar %s/%s does not stand on the baseline", b.Platform, b.Status)
		}
		if (b.Count == 0) != (b.H == 0) {
			t.Errorf("bar %s/%s: count %d, height %d", b.Platform, b.Status, b.Count, b.H)
		}
		if !strings.HasPrefix(b.Title, b.Platform+": ") {
			t.Errorf("bar title %q does not name the platform", b.Title)
		}
		if b.X+b.W > c.PlotRight {
			t.Errorf("bar %s/%s ends at %d, right of the plot (%d)", b.Platform, b.Status, b.X+b.W, c.PlotRight)
		}
	}
	top := c.Ticks[len(c.Ticks)-1]
	if top.Y != c.Baseline-chartPlot || top.Value < 1 {
		t.Errorf("top tick %+v", top)
	}
	// 12 bundles on one platform: ticks every 3, up to 12.
	many := make([]Input, 12)
	for i := range many {
		many[i].Result = result("b"+strings.Repeat("x", i), "tdx", out("out", helloPath, rebuild.Reproduced))
	}
	rep, err = Build(many, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var values []int
	for _, tk := range rep.Chart().Ticks {
		values = append(values, tk.Value)
	}
	if want := []int{0, 3, 6, 9, 12}; !slices.Equal(values, want) {
		t.Errorf("ticks %v, want %v", values, want)
	}
}
