package report

import (
	"fmt"
	"strings"
)

// Chart is the geometry of the page's bar chart: for each builder
// platform, one bar per outcome, the height of each its number of
// bundles. It is computed here and drawn by the page's template as inline
// SVG, so the page needs no script.
type Chart struct {
	Width, Height int
	Title, Desc   string
	Bars          []Bar
	Groups        []GroupLabel
	Ticks         []Tick
	Legend        []LegendItem
	// PlotLeft, PlotRight and Baseline are where the axes run.
	PlotLeft, PlotRight, Baseline int
}

// Bar is one bar: the bundles of one platform with one outcome.
type Bar struct {
	X, Y, W, H int
	Platform   string
	Status     Status
	Count      int
	// Title is the bar's accessible name, "sev-snp: 2 bundles reproduced".
	Title string
	// LabelX and LabelY place the count written above the bar.
	LabelX, LabelY int
}

// GroupLabel names a platform under its bars.
type GroupLabel struct {
	X, Y int
	Text string // the platform, shortened to fit
	Full string // the whole platform name
}

// Tick is one line of the value axis.
type Tick struct {
	Y, Value int
}

// LegendItem is one outcome's swatch and label.
type LegendItem struct {
	X, Y   int
	Status Status
	Label  string
}

// The chart's layout, in SVG user units (CSS pixels).
const (
	chartBarWidth   = 28
	chartBarGap     = 4
	chartGroupGap   = 36
	chartLeft       = 48 // room for the value axis labels
	chartRight      = 16
	chartTop        = 52 // room for the legend and the labels above the tallest bar
	chartPlot       = 200
	chartBottom     = 40 // room for the platform names
	chartMinWidth   = 460
	chartNameLength = 18 // runes of a platform name shown under its bars
	chartTicks      = 5
)

// Chart lays out the chart of the report's platforms.
func (r *Report) Chart() Chart {
	sts := statuses()
	groupWidth := len(sts)*chartBarWidth + (len(sts)-1)*chartBarGap
	c := Chart{
		Height:   chartTop + chartPlot + chartBottom,
		Title:    "Bundles by builder platform and outcome",
		PlotLeft: chartLeft,
		Baseline: chartTop + chartPlot,
	}
	c.Width = max(chartMinWidth, chartLeft+len(r.Platforms)*(groupWidth+chartGroupGap)+chartRight)
	c.PlotRight = c.Width - chartRight

	top, step := axis(r.Platforms)
	for v := 0; v <= top; v += step {
		c.Ticks = append(c.Ticks, Tick{Y: c.Baseline - chartPlot*v/top, Value: v})
	}

	var desc []string
	for gi, p := range r.Platforms {
		x0 := chartLeft + chartGroupGap/2 + gi*(groupWidth+chartGroupGap)
		var parts []string
		for si, s := range sts {
			n := p.Bundles.Of(s)
			h := chartPlot * n / top
			x := x0 + si*(chartBarWidth+chartBarGap)
			c.Bars = append(c.Bars, Bar{
				X: x, Y: c.Baseline - h, W: chartBarWidth, H: h,
				Platform: p.Platform, Status: s, Count: n,
				Title:  barTitle(p.Platform, n, s),
				LabelX: x + chartBarWidth/2, LabelY: c.Baseline - h - 4,
			})
			parts = append(parts, s.Count(n))
		}
		c.Groups = append(c.Groups, GroupLabel{
			X: x0 + groupWidth/2, Y: c.Baseline + 18,
			Text: shorten(p.Platform, chartNameLength), Full: p.Platform,
		})
		desc = append(desc, p.Platform+": "+strings.Join(parts, ", "))
	}
	c.Desc = "Bundles per builder platform. " + strings.Join(desc, "; ") + "."
	if len(r.Platforms) == 0 {
		c.Desc = "No bundles."
	}

	x := chartLeft
	for _, s := range sts {
		c.Legend = append(c.Legend, LegendItem{X: x, Y: 14, Status: s, Label: s.Label()})
		x += 40 + 7*len(s.Label())
	}
	return c
}

// axis returns the top of the value axis and the step between its ticks:
// whole numbers of bundles, at most chartTicks steps, the top at or above
// the tallest bar.
func axis(platforms []PlatformRow) (top, step int) {
	most := 1
	for _, p := range platforms {
		for _, s := range statuses() {
			most = max(most, p.Bundles.Of(s))
		}
	}
	step = (most + chartTicks - 1) / chartTicks
	return step * ((most + step - 1) / step), step
}

// barTitle is "sev-snp: 1 bundle differs", "tdx: 2 bundles reproduced".
func barTitle(platform string, n int, s Status) string {
	count := s.Count(n)
	num, what, _ := strings.Cut(count, " ")
	return fmt.Sprintf("%s: %s %s %s", platform, num, plural(n, "bundle"), what)
}

func plural(n int, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}

// shorten cuts s to n runes, ending in an ellipsis when cut.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
