package rebuild

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/kettle-build/kettle/nixinputs"
	"github.com/kettle-build/kettle/provenance"
)

// outputTrees are where the two trees of one output are.
type outputTrees struct {
	// attested lists the candidates for the attested tree, best first:
	// the bundle's artifact of a subject, then the valid store path; the
	// first whose NAR SHA-256 is the attested one is used.
	attested []treeSource
	// local is the local rebuild's tree, "" when there is none.
	local string
}

// treeSource is one place an attested tree may be.
type treeSource struct {
	storePath string               // a valid store path, or
	artifact  *provenance.Artifact // a NAR in the bundle
	narSize   uint64               // the artifact's size, as its subject signs it
}

func (t treeSource) String() string {
	if t.artifact != nil {
		return "artifact " + t.artifact.File
	}
	return "store path " + t.storePath
}

// floatingOutput says why an output without a path in its .drv is not
// compared.
const floatingOutput = "a floating content-addressed output: its path is known only once built, and kettle rebuild compares outputs by path"

// localOutput is what a local rebuild left of one output.
type localOutput struct {
	method Method
	// tree is the local rebuild: the store path, or <path>.check; "" when
	// there is none.
	tree string
	// valid: the store path was valid before the rebuild, so it may be
	// the attested tree.
	valid bool
	// reason says why there is no tree, or, with lostDiffer, that Nix
	// found the rebuild different but did not keep it.
	reason     string
	lostDiffer bool
}

// rebuildDerivation rebuilds one derivation and reports, by output path,
// where each output's local tree is. A fixed-output derivation whose
// output is valid is not rebuilt: Nix checked its content against the
// hash in its .drv. Outputs that are all valid are rebuilt in check mode;
// otherwise the derivation is built.
func (r *rebuilder) rebuildDerivation(ctx context.Context, d *nixinputs.Derivation) map[string]localOutput {
	local := map[string]localOutput{}
	var paths []string
	for _, o := range d.Outputs {
		if o.Path != "" {
			paths = append(paths, o.Path)
		}
	}
	// fail sets every output not yet set to lo, with reason.
	fail := func(lo localOutput, reason string) map[string]localOutput {
		lo.reason = reason
		for _, p := range paths {
			if _, done := local[p]; !done {
				local[p] = lo
			}
		}
		return local
	}
	none := localOutput{method: MethodNone}
	if len(paths) < len(d.Outputs) {
		return fail(none, "its derivation has "+floatingOutput)
	}
	valid, err := r.nix.ValidPathInfo(ctx, paths...)
	if err != nil {
		return fail(none, err.Error())
	}
	_, fixed := d.FixedOutput()
	switch {
	case fixed && len(valid) == len(paths):
		r.logf("fixed-output %s: valid, not fetched again", d.Path)
		for _, p := range paths {
			local[p] = localOutput{method: MethodFixed, tree: p, valid: true}
		}
	case len(valid) == len(paths):
		r.logf("checking %s", d.Path)
		res, err := r.nix.CheckDerivation(ctx, d.Path)
		if err != nil {
			// The outputs are still the valid ones.
			return fail(localOutput{method: MethodCheck, valid: true}, "nix-store --realise --check failed: "+err.Error())
		}
		for _, p := range paths {
			lo := localOutput{method: MethodCheck, tree: p, valid: true}
			if kept, differs := res.Differs[p]; differs {
				lo.tree = kept
				lo.lostDiffer = kept == ""
				if lo.lostDiffer {
					lo.reason = "Nix found the rebuild different from the valid path but did not keep it"
				}
			} else if len(res.Differs) > 0 && !res.Listed && len(paths) > 1 {
				lo.tree, lo.reason = "", "not compared: this Nix stops checking a derivation at its first output that differs"
			}
			local[p] = lo
		}
	default:
		r.logf("building %s", d.Path)
		built, err := r.nix.RealiseDerivation(ctx, d.Path)
		if err != nil {
			return fail(localOutput{method: MethodBuild}, "nix-store --realise failed: "+err.Error())
		}
		for _, p := range built {
			local[p] = localOutput{method: MethodBuild, tree: p}
		}
		// Any output it did not print is not built.
		return fail(localOutput{method: MethodBuild}, "nix-store --realise did not report this output")
	}
	return local
}

// settle hashes an output's local tree and compares it with the attested
// hash, recording where both trees are for explainDifferences. artifact is
// the bundle's NAR of the output, if any.
func (r *rebuilder) settle(o *Output, lo localOutput, artifact *treeSource) {
	o.Method, o.LocalPath = lo.method, lo.tree
	if o.Method == "" {
		o.Method, lo.reason = MethodNone, "nothing rebuilt this output"
	}
	if lo.tree == "" && !lo.lostDiffer {
		o.Status, o.Reason = NotBuilt, lo.reason
		return
	}
	trees := &outputTrees{local: lo.tree}
	if artifact != nil {
		trees.attested = append(trees.attested, *artifact)
	}
	if lo.valid {
		trees.attested = append(trees.attested, treeSource{storePath: o.StorePath})
	}
	r.trees[o.StorePath] = trees
	if lo.lostDiffer {
		// Nix says the rebuild differs from the valid path: it differs
		// from the attested tree if that is the valid path.
		sum, err := nixinputs.HashPath(o.StorePath)
		switch {
		case err != nil:
			o.Status, o.Reason = NotBuilt, lo.reason+", and hashing the valid path failed: "+err.Error()
		case hex.EncodeToString(sum.SHA256[:]) == o.AttestedSHA256:
			o.Status, o.Reason = Differs, lo.reason
		default:
			o.Status, o.Reason = NotBuilt, lo.reason+", and the valid path is not the attested one either"
		}
		return
	}
	sum, err := nixinputs.HashPath(lo.tree)
	if err != nil {
		o.Status, o.Reason = NotBuilt, fmt.Sprintf("hashing the rebuild %s: %v", lo.tree, err)
		return
	}
	o.LocalSHA256 = sum.Hex()
	switch {
	case o.AttestedSHA256 == "":
		o.Status = NotAttested
	case o.LocalSHA256 == o.AttestedSHA256:
		o.Status = Reproduced
	default:
		o.Status = Differs
	}
}
