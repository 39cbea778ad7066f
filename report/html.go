package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"

	"github.com/kettle-build/kettle/internal/atomicfile"
)

// pageTemplate is the page; it is only read.
//
//go:embed page.html.tmpl
var pageTemplate string

// pageFiles is how many differing files the page names per output.
const pageFiles = 20

// DefaultTitle is the page's title when the report has none.
const DefaultTitle = "Kettle reproducibility report"

// HTML renders the report as one self-contained page: inline CSS, the
// chart as inline SVG, no script, font or other resource to fetch. Every
// text from the results is escaped by html/template for where it stands.
// The same report gives the same bytes.
func HTML(r *Report) ([]byte, error) {
	t, err := template.New("page").Funcs(template.FuncMap{
		"label":   func(s Status) string { return s.Label() },
		"totals":  totalsLine,
		"plural":  plural,
		"first":   firstN,
		"detail":  bundleDetail,
		"minus":   func(a, b int) int { return a - b },
		"display": orDash,
		"path":    filePath,
	}).Parse(pageTemplate)
	if err != nil {
		return nil, fmt.Errorf("page template: %w", err)
	}
	title := r.Title
	if title == "" {
		title = DefaultTitle
	}
	data := struct {
		*Report
		PageTitle string
		Chart     Chart
		Files     int
	}{r, title, r.Chart(), pageFiles}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("page template: %w", err)
	}
	return b.Bytes(), nil
}

// WriteHTML writes the page to path through a temporary sibling, so that
// path never holds half a page.
func WriteHTML(path string, r *Report) error {
	page, err := HTML(r)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, page, 0o644); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func firstN(list []string, n int) []string {
	if len(list) > n {
		return list[:n]
	}
	return list
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
