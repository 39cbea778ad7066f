package manifestdiff

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"

	"github.com/kettle-build/kettle/manifestdiff/drvdiff"
	"github.com/kettle-build/kettle/provenance"
)

// Explain reads, with read, the .drv files of the derivations that changed
// and of the outputs that did not reproduce, and adds what they say:
//
//   - Derivations: for every changed derivation, what changed in it
//     (builder, args, env, input sources and derivations, outputs), and in
//     turn in its changed input derivations, each pair once;
//   - UsedBy: for a changed src, the derivations whose input sources it
//     changed;
//   - Follows: for an output that did not reproduce, its input derivations
//     that did not either, and the reproducibility failures are reordered
//     so that those whose inputs all reproduced come first.
//
// A .drv that read cannot find (fs.ErrNotExist) is reported as not in the
// local store; nothing is assumed about it.
func (r *Result) Explain(read drvdiff.Reader) {
	ex := drvdiff.NewExplainer(read)
	for i := range r.Rows {
		row := &r.Rows[i]
		if row.Kind == provenance.KindDrv && row.Change == Changed {
			x := ex.Explain(row.pathA, row.pathB)
			row.Note = summarise(x)
			if x.OnlyInputs {
				row.depth = 1 // after the derivations that changed in themselves
			}
		}
	}
	// The derivations that changed in themselves first, as the rows.
	r.Derivations = slices.Clone(ex.Explanations())
	sort.SliceStable(r.Derivations, func(i, j int) bool { return !r.Derivations[i].OnlyInputs && r.Derivations[j].OnlyInputs })
	r.Explained = true
	r.Notes = slices.DeleteFunc(r.Notes, func(n string) bool { return n == nameOrderNote })
	r.markUsedBy()
	r.orderFailures(ex)
	sortRows(r.Rows)
}

// summarise says in a few words why a derivation changed.
func summarise(x *drvdiff.Explanation) string {
	const most = 4
	if len(x.Unavailable) > 0 {
		return "not explained: " + strings.Join(x.Unavailable, "; ")
	}
	var own, inputs []string
	for _, c := range x.Changes {
		switch {
		case c.Field == drvdiff.FieldInputDrvs:
			inputs = append(inputs, c.Name)
		case c.Change != drvdiff.ChangeStorePaths:
			own = append(own, strings.TrimSpace(c.Field+" "+c.Name))
		}
	}
	list := func(s []string) string {
		if len(s) > most {
			return strings.Join(s[:most], ", ") + fmt.Sprintf(" and %d more", len(s)-most)
		}
		return strings.Join(s, ", ")
	}
	switch {
	case len(own) > 0:
		return "changed in itself: " + list(own)
	case len(inputs) > 0:
		return "differs only through its input derivations: " + list(inputs)
	}
	return "differs only in store paths"
}

// markUsedBy names, on each changed src row, the derivations whose input
// sources changed from its A path to its B path.
func (r *Result) markUsedBy() {
	users := map[[2]string][]string{}
	for _, x := range r.Derivations {
		for _, c := range x.Changes {
			if c.Field == drvdiff.FieldInputSrcs && c.Change == drvdiff.ChangeChanged {
				k := [2]string{c.A, c.B}
				if !slices.Contains(users[k], x.Name) {
					users[k] = append(users[k], x.Name)
				}
			}
		}
	}
	for i := range r.Rows {
		row := &r.Rows[i]
		if row.Kind == provenance.KindSrc && row.Change == Changed {
			row.UsedBy = slices.Sorted(slices.Values(users[[2]string{row.pathA, row.pathB}]))
		}
	}
}

// orderFailures finds, for each output that did not reproduce, the input
// derivations of its .drv whose outputs did not reproduce either, and
// gives each failure its depth: 0 when none of its inputs failed, else one
// more than the deepest of them.
func (r *Result) orderFailures(ex *drvdiff.Explainer) {
	rowsOf := map[string][]int{} // .drv path → its not-reproduced rows
	for i, row := range r.Rows {
		if row.Change == NotReproduced {
			rowsOf[row.pathA] = append(rowsOf[row.pathA], i)
		}
	}
	if len(rowsOf) == 0 {
		return
	}
	drvs := make([]string, 0, len(rowsOf))
	for d := range rowsOf {
		drvs = append(drvs, d)
	}
	sort.Strings(drvs)
	inputs := map[string][]string{}     // failing drv → its failing inputs
	dependents := map[string][]string{} // failing drv → failing drvs with it as an input
	for _, d := range drvs {
		drv, err := ex.Derivation(d)
		if err != nil {
			note := "its inputs are unknown: " + err.Error()
			if errors.Is(err, fs.ErrNotExist) {
				note = "its inputs are unknown: " + d + " is not in the local store"
			}
			for _, i := range rowsOf[d] {
				r.Rows[i].Note = note
			}
			continue
		}
		for in := range drv.InputDrvs {
			if _, failed := rowsOf[in]; failed && in != d {
				inputs[d] = append(inputs[d], in)
				dependents[in] = append(dependents[in], d)
			}
		}
		sort.Strings(inputs[d])
	}
	// Longest chain of failing inputs below each failure (Kahn's order, so
	// that no recursion follows a long chain).
	depth := map[string]int{}
	waiting := map[string]int{}
	var queue []string
	for _, d := range drvs {
		waiting[d] = len(inputs[d])
		if waiting[d] == 0 {
			queue = append(queue, d)
		}
	}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		for _, dep := range dependents[d] {
			depth[dep] = max(depth[dep], depth[d]+1)
			if waiting[dep]--; waiting[dep] == 0 {
				queue = append(queue, dep)
			}
		}
	}
	for _, d := range drvs {
		var names []string
		for _, in := range inputs[d] {
			names = append(names, drvName(in))
		}
		for _, i := range rowsOf[d] {
			row := &r.Rows[i]
			row.depth = depth[d]
			row.Follows = names
			if row.Note == "" && len(names) == 0 {
				row.Note = "none of its inputs is listed as not reproduced: look here first"
			}
		}
	}
}
