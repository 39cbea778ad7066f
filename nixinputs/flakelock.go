package nixinputs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/kettle-build/kettle/internal/strictjson"
)

// FlakeLock is a parsed flake.lock: a graph of nodes, one per locked input,
// rooted at the flake itself.
type FlakeLock struct {
	Version int
	Root    string // name of the root node, normally "root"
	Nodes   map[string]*LockNode
}

// LockNode is one node of a flake.lock graph.
type LockNode struct {
	// Inputs maps an input name to the node it resolves to, or to a follows
	// path.
	Inputs map[string]InputTarget
	// Locked and Original are the node's fetcher attributes as in the file.
	// Numbers are json.Number, so that integers print exactly.
	Locked   map[string]any
	Original map[string]any
	// Flake is the "flake" field: false for inputs that are not flakes, nil
	// when absent (meaning true).
	Flake *bool
	// Parent is the input path of the flake a relative path input is
	// relative to ("parent", written by Nix 2.26 and later); nil when absent.
	Parent []string
}

// InputTarget is where a flake input points: a node name, or a follows path.
// In JSON it is either "nodeName" or ["a", "b"], an input path from the root
// (an empty array follows the root flake itself).
type InputTarget struct {
	Node    string
	Follows []string // non-nil for a follows path
}

// IsFollows reports whether the target is a follows path.
func (t InputTarget) IsFollows() bool { return t.Follows != nil }

// LockedInput is one locked flake input as Kettle records it.
type LockedInput struct {
	// Path is the input path from the root, e.g. "nixpkgs" or "foo/bar".
	// An input reachable along several paths (through follows, or shared
	// between inputs) is listed once, under its shortest path; among
	// shortest paths the first when compared component by component.
	Path string
	// Node is the node's name in the lock file.
	Node string
	// Type is the locked fetcher type: github, git, path, tarball, file,
	// gitlab, sourcehut, mercurial, indirect, ….
	Type string
	// URL is the locked reference as a URL, rebuilt from the locked
	// attributes the way Nix renders them (github:o/r/<rev>,
	// git+https://…?ref=…&rev=…, path:/p?lastModified=…&narHash=…, …).
	// It depends only on the locked attributes, not on the Nix version.
	URL string
	// Rev is the locked revision, "" when the fetcher has none.
	Rev string
	// NarHash is the locked NAR hash as written in the lock ("sha256-…").
	NarHash string
}

// ParseFlakeLock parses a flake.lock file (versions 5, 6 and 7) and checks
// its graph: the root node exists, every input names an existing node or a
// follows path that resolves from the root without a cycle, and every node
// but the root carries "locked" and "original" attributes with a "type".
// Errors name the node and field at fault.
func ParseFlakeLock(data []byte) (*FlakeLock, error) {
	var top map[string]json.RawMessage
	if err := decodeJSONObject(data, &top); err != nil {
		return nil, fmt.Errorf("flake.lock: %w", err)
	}
	l := &FlakeLock{}

	rawVersion, ok := top["version"]
	if !ok {
		return nil, fmt.Errorf("flake.lock: missing field \"version\"")
	}
	var version json.Number
	if err := decodeJSON(rawVersion, &version); err != nil || jsonKind(rawVersion) != "a number" {
		return nil, fmt.Errorf("flake.lock: field \"version\": want a number, got %s", jsonKind(rawVersion))
	}
	v, err := version.Int64()
	if err != nil {
		return nil, fmt.Errorf("flake.lock: field \"version\": want an integer, got %s", version)
	}
	if v < 5 || v > 7 {
		return nil, fmt.Errorf("flake.lock: unsupported version %d (want 5, 6 or 7)", v)
	}
	l.Version = int(v)

	rawRoot, ok := top["root"]
	if !ok {
		return nil, fmt.Errorf("flake.lock: missing field \"root\"")
	}
	if err := decodeJSON(rawRoot, &l.Root); err != nil {
		return nil, fmt.Errorf("flake.lock: field \"root\": want a string, got %s", jsonKind(rawRoot))
	}
	if l.Root == "" {
		return nil, fmt.Errorf("flake.lock: field \"root\" is empty")
	}

	rawNodes, ok := top["nodes"]
	if !ok {
		return nil, fmt.Errorf("flake.lock: missing field \"nodes\"")
	}
	var nodes map[string]json.RawMessage
	if err := decodeJSON(rawNodes, &nodes); err != nil || nodes == nil {
		return nil, fmt.Errorf("flake.lock: field \"nodes\": want an object, got %s", jsonKind(rawNodes))
	}
	if _, ok := nodes[l.Root]; !ok {
		return nil, fmt.Errorf("flake.lock: root node %q is not among the nodes", l.Root)
	}
	l.Nodes = make(map[string]*LockNode, len(nodes))
	// Sorted, so that the error reported for a bad file is always the same.
	for _, name := range slices.Sorted(maps.Keys(nodes)) {
		raw := nodes[name]
		n, err := parseLockNode(raw, name == l.Root)
		if err != nil {
			return nil, fmt.Errorf("flake.lock: node %q: %w", name, err)
		}
		l.Nodes[name] = n
	}
	if _, err := l.resolveInputs(); err != nil {
		return nil, fmt.Errorf("flake.lock: %w", err)
	}
	return l, nil
}

func parseLockNode(raw json.RawMessage, isRoot bool) (*LockNode, error) {
	var fields map[string]json.RawMessage
	if err := decodeJSON(raw, &fields); err != nil || fields == nil {
		return nil, fmt.Errorf("want an object, got %s", jsonKind(raw))
	}
	n := &LockNode{}
	if rawInputs, ok := fields["inputs"]; ok {
		var inputs map[string]json.RawMessage
		if err := decodeJSON(rawInputs, &inputs); err != nil || inputs == nil {
			return nil, fmt.Errorf("field \"inputs\": want an object, got %s", jsonKind(rawInputs))
		}
		n.Inputs = make(map[string]InputTarget, len(inputs))
		for name, rawTarget := range inputs {
			if name == "" {
				return nil, fmt.Errorf("field \"inputs\": input with an empty name")
			}
			t, err := parseInputTarget(rawTarget)
			if err != nil {
				return nil, fmt.Errorf("input %q: %w", name, err)
			}
			n.Inputs[name] = t
		}
	}
	for _, f := range []struct {
		key string
		dst *map[string]any
	}{{"locked", &n.Locked}, {"original", &n.Original}} {
		rawAttrs, ok := fields[f.key]
		if !ok {
			if isRoot {
				continue
			}
			return nil, fmt.Errorf("missing field %q", f.key)
		}
		if err := decodeJSON(rawAttrs, f.dst); err != nil || *f.dst == nil {
			return nil, fmt.Errorf("field %q: want an object, got %s", f.key, jsonKind(rawAttrs))
		}
		typ, ok := (*f.dst)["type"].(string)
		if !ok || typ == "" {
			return nil, fmt.Errorf("field %q: missing string attribute \"type\"", f.key)
		}
	}
	if rawFlake, ok := fields["flake"]; ok {
		var b bool
		if err := decodeJSON(rawFlake, &b); err != nil {
			return nil, fmt.Errorf("field \"flake\": want a boolean, got %s", jsonKind(rawFlake))
		}
		n.Flake = &b
	}
	if rawParent, ok := fields["parent"]; ok {
		if err := decodeJSON(rawParent, &n.Parent); err != nil || n.Parent == nil {
			return nil, fmt.Errorf("field \"parent\": want an array of strings, got %s", jsonKind(rawParent))
		}
	}
	return n, nil
}

func parseInputTarget(raw json.RawMessage) (InputTarget, error) {
	var node string
	if err := decodeJSON(raw, &node); err == nil {
		if node == "" {
			return InputTarget{}, fmt.Errorf("empty node name")
		}
		return InputTarget{Node: node}, nil
	}
	var follows []string
	if err := decodeJSON(raw, &follows); err != nil || follows == nil {
		return InputTarget{}, fmt.Errorf("want a node name or a follows path (array of input names), got %s", jsonKind(raw))
	}
	for _, c := range follows {
		if c == "" {
			return InputTarget{}, fmt.Errorf("follows path %q has an empty input name", follows)
		}
	}
	return InputTarget{Follows: follows}, nil
}

// resolveInputs returns, for every node, the node each of its inputs
// resolves to, following follows paths. It fails on an input naming a
// missing node, a follows path that does not resolve, or a follows cycle.
func (l *FlakeLock) resolveInputs() (map[string]map[string]string, error) {
	if l.Nodes[l.Root] == nil {
		return nil, fmt.Errorf("root node %q is not among the nodes", l.Root)
	}
	r := &resolver{l: l, done: map[string]string{}, active: map[string]bool{}}
	out := make(map[string]map[string]string, len(l.Nodes))
	// Sorted, so that the error reported for a bad file is always the same.
	for _, name := range slices.Sorted(maps.Keys(l.Nodes)) {
		n := l.Nodes[name]
		if n == nil {
			return nil, fmt.Errorf("node %q is null", name)
		}
		m := make(map[string]string, len(n.Inputs))
		for _, in := range slices.Sorted(maps.Keys(n.Inputs)) {
			t := n.Inputs[in]
			if !t.IsFollows() {
				if l.Nodes[t.Node] == nil {
					return nil, fmt.Errorf("node %q: input %q points to missing node %q", name, in, t.Node)
				}
				m[in] = t.Node
				continue
			}
			target, err := r.resolve(t.Follows)
			if err != nil {
				return nil, fmt.Errorf("node %q: input %q follows %q: %w", name, in, strings.Join(t.Follows, "/"), err)
			}
			m[in] = target
		}
		out[name] = m
	}
	return out, nil
}

// resolver resolves follows paths from the root, memoising results and
// detecting cycles.
type resolver struct {
	l      *FlakeLock
	done   map[string]string // joined follows path → node
	active map[string]bool   // follows paths being resolved (cycle detection)
}

func (r *resolver) resolve(path []string) (string, error) {
	key := strings.Join(path, "\x00")
	if n, ok := r.done[key]; ok {
		return n, nil
	}
	if r.active[key] {
		return "", fmt.Errorf("follows cycle through %q", strings.Join(path, "/"))
	}
	r.active[key] = true
	defer delete(r.active, key)

	cur := r.l.Root
	for i, name := range path {
		t, ok := r.l.Nodes[cur].Inputs[name]
		if !ok {
			return "", fmt.Errorf("%q does not resolve: node %q has no input %q", strings.Join(path, "/"), cur, name)
		}
		if t.IsFollows() {
			next, err := r.resolve(t.Follows)
			if err != nil {
				return "", err
			}
			cur = next
		} else {
			if r.l.Nodes[t.Node] == nil {
				return "", fmt.Errorf("%q does not resolve: input %q of node %q points to missing node %q", strings.Join(path[:i+1], "/"), name, cur, t.Node)
			}
			cur = t.Node
		}
	}
	r.done[key] = cur
	return cur, nil
}

// LockedInputs lists every input reachable from the root, once per locked
// node, sorted by Path. It fails if any input is not locked (has no narHash)
// or its locked attributes cannot be rendered as a URL; the error names the
// input.
func (l *FlakeLock) LockedInputs() ([]LockedInput, error) {
	edges, err := l.resolveInputs()
	if err != nil {
		return nil, fmt.Errorf("flake.lock: %w", err)
	}
	// Breadth-first from the root, inputs in name order: each node gets its
	// shortest input path, ties going to the path that is first component by
	// component (the frontier stays sorted that way level after level).
	type entry struct {
		path []string
		node string
	}
	paths := map[string][]string{l.Root: {}}
	frontier := []entry{{nil, l.Root}}
	var order []entry
	for len(frontier) > 0 {
		var next []entry
		for _, e := range frontier {
			for _, in := range slices.Sorted(maps.Keys(edges[e.node])) {
				target := edges[e.node][in]
				if _, seen := paths[target]; seen {
					continue
				}
				p := append(append([]string(nil), e.path...), in)
				paths[target] = p
				next = append(next, entry{p, target})
			}
		}
		order = append(order, next...)
		frontier = next
	}

	out := make([]LockedInput, 0, len(order))
	for _, e := range order {
		path := strings.Join(e.path, "/")
		n := l.Nodes[e.node]
		li := LockedInput{Path: path, Node: e.node}
		li.Type, _ = n.Locked["type"].(string)
		li.Rev, _ = n.Locked["rev"].(string)
		if _, ok := n.Locked["rev"]; ok {
			if li.Rev == "" {
				return nil, fmt.Errorf("flake.lock: input %q (node %q): locked \"rev\" is not a non-empty string", path, e.node)
			}
			if err := checkRev(li.Rev); err != nil {
				return nil, fmt.Errorf("flake.lock: input %q (node %q): %w", path, e.node, err)
			}
		}
		nh, ok := n.Locked["narHash"]
		if !ok {
			return nil, fmt.Errorf("flake.lock: input %q (node %q) is not locked: no narHash", path, e.node)
		}
		li.NarHash, _ = nh.(string)
		if _, err := ParseHash(li.NarHash); err != nil {
			return nil, fmt.Errorf("flake.lock: input %q (node %q): bad narHash: %w", path, e.node, err)
		}
		u, err := LockedURLFromAttrs(n.Locked)
		if err != nil {
			return nil, fmt.Errorf("flake.lock: input %q (node %q): %w", path, e.node, err)
		}
		li.URL = u
		out = append(out, li)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// decodeJSON unmarshals one JSON value, keeping numbers as json.Number and
// refusing trailing data.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) != 0 {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}

// decodeJSONObject decodes a top-level JSON object that strictjson.Check
// accepts, with an error that says what was found instead.
func decodeJSONObject(data []byte, v *map[string]json.RawMessage) error {
	if err := strictjson.Check(data); err != nil {
		return err
	}
	if k := jsonKind(data); k != "an object" {
		return fmt.Errorf("want a JSON object, got %s", k)
	}
	return decodeJSON(data, v)
}

// jsonKind names the kind of a JSON value for error messages.
func jsonKind(raw []byte) string {
	if !json.Valid(raw) {
		return "invalid JSON"
	}
	switch bytes.TrimSpace(raw)[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return "a number"
	}
	return "invalid JSON"
}
