package rebuild

import (
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/kettle-build/kettle/nixinputs"
	"github.com/kettle-build/kettle/provenance"
)

// compareDeep compares every output leaf of the manifest with a local
// rebuild, derivation by derivation, bottom-up through the local closure,
// and names the derivations that first differ.
func (r *rebuilder) compareDeep(ctx context.Context) error {
	order, err := bottomUp(r.closure)
	if err != nil {
		return err
	}
	c := &Closure{FirstDiffering: []string{}}
	for drv := range r.drvLeaves {
		if _, ok := r.closure.Derivations[drv]; !ok {
			c.NotInLocalClosure = append(c.NotInLocalClosure, drv)
		}
	}
	slices.Sort(c.NotInLocalClosure)
	byDrv := r.leavesByDrv()
	realised := map[string]bool{} // .drv → every output valid after its rebuild
	drvs := make([]Derivation, 0, len(order)+len(c.NotInLocalClosure))
	for i, p := range order {
		d := r.closure.Derivations[p]
		if !r.drvLeaves[p] {
			c.LocalOnly = append(c.LocalOnly, p)
		}
		c.Mismatches = append(c.Mismatches, outputMismatches(d, byDrv[p], r.drvLeaves[p])...)
		var local map[string]localOutput
		if missing := unrealisedInputs(d, realised); len(missing) > 0 {
			r.logf("[%d/%d] %s: not built, its inputs %v were not", i+1, len(order), p, missing)
			local = notBuilt(d, fmt.Sprintf("not built: its input derivations %v were not built", missing))
		} else {
			local = r.rebuildDerivation(ctx, d)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		realised[p] = allRealised(d, local)
		dv := Derivation{Drv: p, Outputs: r.deepOutputs(d, local, byDrv[p])}
		drvs = append(drvs, dv)
	}
	for _, p := range c.NotInLocalClosure {
		dv := Derivation{Drv: p}
		for _, l := range byDrv[p] {
			dv.Outputs = append(dv.Outputs, leafOutput(l, NotBuilt, "the locked ref does not instantiate to this derivation here: the evaluation differs from the attested build's"))
		}
		drvs = append(drvs, dv)
	}
	inputs := make(map[string][]string, len(r.closure.Derivations))
	for p, d := range r.closure.Derivations {
		inputs[p] = slices.Sorted(maps.Keys(d.InputDrvs))
	}
	classify(drvs, inputs)
	c.Derivations = drvs
	for i := range c.Derivations {
		d := &c.Derivations[i]
		for j := range d.Outputs {
			o := &d.Outputs[j]
			switch {
			case o.Status != Differs:
			case d.FirstDiffering:
				r.explain = append(r.explain, o)
			default:
				o.DiffUnavailable = "not listed: input derivations of it did not reproduce (see inputsNotReproduced); the first-differing derivations have their files listed"
			}
		}
		if d.FirstDiffering {
			c.FirstDiffering = append(c.FirstDiffering, d.Drv)
		}
	}
	r.res.Closure = c
	return nil
}

// leavesByDrv groups the output leaves by derivation, in output name order.
func (r *rebuilder) leavesByDrv() map[string][]provenance.DrvOutput {
	by := map[string][]provenance.DrvOutput{}
	for _, id := range slices.Sorted(maps.Keys(r.leaves)) {
		l := r.leaves[id]
		by[l.Drv] = append(by[l.Drv], l)
	}
	return by
}

// deepOutputs compares each output of a local derivation with its output
// leaf; leaves of outputs the .drv does not have are listed as not built.
func (r *rebuilder) deepOutputs(d *nixinputs.Derivation, local map[string]localOutput, leaves []provenance.DrvOutput) []Output {
	byName := map[string]provenance.DrvOutput{}
	for _, l := range leaves {
		byName[l.Output] = l
	}
	var outs []Output
	for _, name := range slices.Sorted(maps.Keys(d.Outputs)) {
		p := d.Outputs[name].Path
		o := Output{Name: name, StorePath: p, Drv: d.Path, Method: MethodNone}
		l, hasLeaf := byName[name]
		why := ""
		switch {
		case !hasLeaf && r.drvLeaves[d.Path]:
			why = "the manifest has no output leaf for this output"
		case !hasLeaf:
			why = "the manifest has no drv leaf for this derivation"
		case p != "" && l.Path != p:
			why = fmt.Sprintf("the output leaf names %s, the local .drv %s", l.Path, p)
		case !l.Realised():
			why = "the bundle attests no hash for it (by=none: it was not in the store after the attested build)"
		default:
			o.AttestedSHA256, o.AttestedBy = hex.EncodeToString(l.NarSHA256[:]), string(l.By)
		}
		if o.StorePath == "" && hasLeaf {
			o.StorePath = l.Path
		}
		lo := local[p]
		if p == "" {
			lo = localOutput{method: MethodNone, reason: "this is " + floatingOutput}
		}
		r.settle(&o, lo, r.artifactOf(o.StorePath))
		if why != "" && o.Status != NotBuilt {
			o.Status, o.Reason = NotAttested, why
		}
		outs = append(outs, o)
	}
	for _, l := range leaves {
		if _, ok := d.Outputs[l.Output]; !ok {
			outs = append(outs, leafOutput(l, NotBuilt, "the local .drv has no output of this name"))
		}
	}
	return outs
}

// artifactOf is the bundle's artifact of the subject with this store path,
// if any.
func (r *rebuilder) artifactOf(storePath string) *treeSource {
	for _, s := range r.stmt.Subjects {
		if s.Name == storePath {
			return r.subjectArtifact(s)
		}
	}
	return nil
}

// leafOutput is an output known only from its leaf.
func leafOutput(l provenance.DrvOutput, status Status, reason string) Output {
	o := Output{Name: l.Output, StorePath: l.Path, Drv: l.Drv, Method: MethodNone, Status: status, Reason: reason}
	if l.Realised() {
		o.AttestedSHA256, o.AttestedBy = hex.EncodeToString(l.NarSHA256[:]), string(l.By)
	}
	return o
}

// outputMismatches lists where a local .drv and the manifest's output
// leaves of it disagree (DESIGN.md, rule 1: with the .drv at hand, every
// output must be listed). listed says the manifest has a drv leaf of it;
// when it has none, Closure.LocalOnly says so.
func outputMismatches(d *nixinputs.Derivation, leaves []provenance.DrvOutput, listed bool) []string {
	if !listed {
		return nil
	}
	var out []string
	byName := map[string]provenance.DrvOutput{}
	for _, l := range leaves {
		byName[l.Output] = l
		if _, ok := d.Outputs[l.Output]; !ok {
			out = append(out, fmt.Sprintf("%s: output leaf of output %q, which the local .drv does not have", l.ID(), l.Output))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(d.Outputs)) {
		p := d.Outputs[name].Path
		l, ok := byName[name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s!%s: the local .drv has this output; the manifest has no output leaf for it", d.Path, name))
		case p != "" && l.Path != p:
			out = append(out, fmt.Sprintf("%s: the output leaf names %s, the local .drv %s", l.ID(), l.Path, p))
		}
	}
	slices.Sort(out)
	return out
}

// unrealisedInputs lists the input derivations of d whose outputs are not
// all valid after their own rebuild: d cannot be built from them.
func unrealisedInputs(d *nixinputs.Derivation, realised map[string]bool) []string {
	var missing []string
	for _, in := range slices.Sorted(maps.Keys(d.InputDrvs)) {
		if !realised[in] {
			missing = append(missing, in)
		}
	}
	return missing
}

// allRealised reports whether every output of d is valid after its
// rebuild: it was valid before, or it was built.
func allRealised(d *nixinputs.Derivation, local map[string]localOutput) bool {
	for _, o := range d.Outputs {
		lo, ok := local[o.Path]
		if !ok || !(lo.valid || lo.method == MethodBuild && lo.tree != "") {
			return false
		}
	}
	return true
}

// notBuilt is the local outcome of a derivation that was not attempted.
func notBuilt(d *nixinputs.Derivation, reason string) map[string]localOutput {
	local := map[string]localOutput{}
	for _, o := range d.Outputs {
		local[o.Path] = localOutput{method: MethodNone, reason: reason}
	}
	return local
}

// bottomUp orders the closure's derivations so that each comes after all
// its inputs: a depth-first post-order, visiting roots and inputs in path
// order so that the order is the same on every run.
func bottomUp(c *nixinputs.Closure) ([]string, error) {
	const (
		visiting = 1
		done     = 2
	)
	state := make(map[string]int, len(c.Derivations))
	order := make([]string, 0, len(c.Derivations))
	var visit func(p string, stack []string) error
	visit = func(p string, stack []string) error {
		switch state[p] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("derivation cycle: %s", strings.Join(append(stack, p), " → "))
		}
		d, ok := c.Derivations[p]
		if !ok {
			return fmt.Errorf("%s: input derivation %s is not in the closure", stack[len(stack)-1], p)
		}
		state[p] = visiting
		for _, in := range slices.Sorted(maps.Keys(d.InputDrvs)) {
			if err := visit(in, append(stack, p)); err != nil {
				return err
			}
		}
		state[p] = done
		order = append(order, p)
		return nil
	}
	for _, p := range c.Paths() {
		if err := visit(p, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// classify sets each derivation's Status from its outputs' and its
// FirstDiffering and InputsNotReproduced from its inputs' statuses. drvs
// must be in bottom-up order; an input that is not among them did not
// reproduce.
func classify(drvs []Derivation, inputs map[string][]string) {
	status := make(map[string]Status, len(drvs))
	for i := range drvs {
		d := &drvs[i]
		d.Status = derivationStatus(d.Outputs)
		d.InputsNotReproduced = nil
		for _, in := range inputs[d.Drv] {
			if status[in] != Reproduced {
				d.InputsNotReproduced = append(d.InputsNotReproduced, in)
			}
		}
		d.FirstDiffering = d.Status == Differs && len(d.InputsNotReproduced) == 0
		status[d.Drv] = d.Status
	}
}

// derivationStatus is Differs when an output differs, else NotBuilt when
// one was not built, else NotAttested when one has no attested hash, else
// Reproduced.
func derivationStatus(outs []Output) Status {
	rank := map[Status]int{Reproduced: 0, NotAttested: 1, NotBuilt: 2, Differs: 3}
	s := Reproduced
	if len(outs) == 0 {
		return NotBuilt
	}
	for _, o := range outs {
		if rank[o.Status] > rank[s] {
			s = o.Status
		}
	}
	return s
}
