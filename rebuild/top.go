package rebuild

import (
	"context"
	"encoding/hex"
	"fmt"
	"path"

	"github.com/kettle-build/kettle/provenance"
)

// compareTop rebuilds the root derivations and compares the provenance
// subjects.
func (r *rebuilder) compareTop(ctx context.Context) error {
	type ref struct{ drv, name string }
	byPath := map[string]ref{}
	for _, root := range r.closure.Roots {
		for name, o := range r.closure.Derivations[root].Outputs {
			if o.Path != "" {
				byPath[o.Path] = ref{root, name}
			}
		}
	}
	outs := make([]Output, len(r.stmt.Subjects))
	wanted := map[string][]int{} // root .drv → indexes of its subjects
	for i, s := range r.stmt.Subjects {
		o := Output{Name: s.Output, StorePath: s.Name, AttestedSHA256: hex.EncodeToString(s.SHA256[:]), AttestedBy: "subject", Method: MethodNone}
		ref, ok := byPath[s.Name]
		if !ok {
			o.Status, o.Reason = NotBuilt, r.notInstantiated(s.Name)
			outs[i] = o
			continue
		}
		o.Drv = ref.drv
		if o.Name == "" {
			o.Name = ref.name
		}
		outs[i] = o
		wanted[ref.drv] = append(wanted[ref.drv], i)
	}
	for _, root := range r.closure.Roots {
		idx := wanted[root]
		if len(idx) == 0 {
			continue
		}
		local := r.rebuildDerivation(ctx, r.closure.Derivations[root])
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, i := range idx {
			o := &outs[i]
			r.settle(o, local[o.StorePath], r.subjectArtifact(r.stmt.Subjects[i]))
		}
	}
	r.res.Outputs = outs
	for i := range r.res.Outputs {
		if r.res.Outputs[i].Status == Differs {
			r.explain = append(r.explain, &r.res.Outputs[i])
		}
	}
	return nil
}

// notInstantiated explains a subject that no local root derivation builds.
func (r *rebuilder) notInstantiated(storePath string) string {
	for _, root := range r.closure.Roots {
		for name, o := range r.closure.Derivations[root].Outputs {
			if o.Path == "" {
				return fmt.Sprintf("output %s of %s is %s", name, root, floatingOutput)
			}
		}
	}
	msg := fmt.Sprintf("%s instantiates here to %v, which do not build %s: the evaluation differs from the attested build's", r.res.Installable, r.closure.Roots, storePath)
	for _, l := range r.leaves {
		if l.Path == storePath {
			msg += fmt.Sprintf(" (the bundle says %s builds it)", l.Drv)
		}
	}
	return msg
}

// subjectArtifact is the bundle's artifact of a subject, if it has one.
func (r *rebuilder) subjectArtifact(s provenance.Subject) *treeSource {
	for i, a := range r.bundle.Artifacts {
		if a.Name == path.Base(s.Name) {
			return &treeSource{artifact: &r.bundle.Artifacts[i], narSize: s.NarSize}
		}
	}
	return nil
}

// deepSubjects are the provenance subjects as the closure compared them.
func (r *rebuilder) deepSubjects(byPath map[string]Output) []Output {
	outs := make([]Output, 0, len(r.stmt.Subjects))
	for _, s := range r.stmt.Subjects {
		o, ok := byPath[s.Name]
		if !ok {
			o = Output{Name: s.Output, StorePath: s.Name, AttestedSHA256: hex.EncodeToString(s.SHA256[:]), AttestedBy: "subject", Method: MethodNone, Status: NotBuilt, Reason: r.notInstantiated(s.Name)}
		}
		outs = append(outs, o)
	}
	return outs
}
