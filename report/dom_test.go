package report

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

// node is an element of a parsed page.
type node struct {
	name     string
	attr     map[string]string
	children []*node
	text     strings.Builder // all the text inside it, its children's included
}

// parsePage parses an HTML page, as this package writes it or as Chromium
// serialises its DOM, with encoding/xml in its lenient HTML mode: void
// elements close themselves and HTML's named entities are known. It fails
// the test on a page that does not parse.
func parsePage(t *testing.T, page []byte) *node {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(page))
	dec.Strict = false
	dec.AutoClose = xml.HTMLAutoClose
	dec.Entity = xml.HTMLEntity
	root := &node{name: "#document", attr: map[string]string{}}
	stack := []*node{root}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("page does not parse: %v", err)
		}
		top := stack[len(stack)-1]
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &node{name: strings.ToLower(tok.Name.Local), attr: map[string]string{}}
			for _, a := range tok.Attr {
				n.attr[strings.ToLower(a.Name.Local)] = a.Value
			}
			top.children = append(top.children, n)
			stack = append(stack, n)
		case xml.EndElement:
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
		case xml.CharData:
			for _, n := range stack {
				n.text.Write(tok)
			}
		}
	}
	return root
}

// textContent is all the text inside the node, white space collapsed.
func (n *node) textContent() string { return strings.Join(strings.Fields(n.text.String()), " ") }

// hasClass reports whether the node's class attribute lists c.
func (n *node) hasClass(c string) bool {
	for _, f := range strings.Fields(n.attr["class"]) {
		if f == c {
			return true
		}
	}
	return false
}

// findAll returns the nodes under n (n included) for which match holds,
// in document order.
func (n *node) findAll(match func(*node) bool) []*node {
	var out []*node
	var walk func(*node)
	walk = func(m *node) {
		if match(m) {
			out = append(out, m)
		}
		for _, c := range m.children {
			walk(c)
		}
	}
	walk(n)
	return out
}

// byID returns the element with the id, failing the test when there is
// not exactly one.
func (n *node) byID(t *testing.T, id string) *node {
	t.Helper()
	found := n.findAll(func(m *node) bool { return m.attr["id"] == id })
	if len(found) != 1 {
		t.Fatalf("%d elements with id %q, want 1", len(found), id)
	}
	return found[0]
}

// elementCounts counts the elements of each name.
func (n *node) elementCounts() map[string]int {
	counts := map[string]int{}
	for _, m := range n.findAll(func(*node) bool { return true }) {
		counts[m.name]++
	}
	return counts
}
