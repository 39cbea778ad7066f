package rebuild

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// explainDifferences lists the differing files of each output chosen by
// the compare stage and, with --diffoscope, runs diffoscope on them.
func (r *rebuilder) explainDifferences(ctx context.Context) error {
	for _, o := range r.explain {
		if err := ctx.Err(); err != nil {
			return err
		}
		trees := r.trees[o.StorePath]
		if trees == nil || trees.local == "" {
			o.DiffUnavailable = "the local rebuild was not kept"
			continue
		}
		attested, src, why := r.attestedListing(ctx, o, trees.attested)
		if attested == nil {
			o.DiffUnavailable = why
			continue
		}
		local, _, err := listTree(ctx, trees.local, false)
		if err != nil {
			o.DiffUnavailable = err.Error()
			continue
		}
		o.DifferingFiles, o.DifferingCount = diffListings(attested, local, r.maxFiles)
		r.logf("%s: %d entries differ (attested tree: %s)", o.StorePath, o.DifferingCount, src)
		if r.diffoscope != nil {
			r.runDiffoscope(ctx, o, src, trees.local)
		}
	}
	return nil
}

// attestedListing lists the first candidate tree whose NAR SHA-256 is the
// attested one, or says why there is none.
func (r *rebuilder) attestedListing(ctx context.Context, o *Output, candidates []treeSource) ([]listedEntry, treeSource, string) {
	if len(candidates) == 0 {
		return nil, treeSource{}, "the attested tree is not at hand: the bundle has no artifact of this output and the store path was not valid here before the rebuild"
	}
	var why []string
	for _, c := range candidates {
		list, sum, err := r.listSource(ctx, c)
		switch {
		case err != nil:
			why = append(why, fmt.Sprintf("%s: %v", c, err))
		case hex.EncodeToString(sum[:]) != o.AttestedSHA256:
			why = append(why, fmt.Sprintf("%s has NAR SHA-256 %x, not the attested one", c, sum))
		default:
			return list, c, ""
		}
	}
	return nil, treeSource{}, "the attested tree is not at hand: " + strings.Join(why, "; ")
}

func (r *rebuilder) listSource(ctx context.Context, c treeSource) ([]listedEntry, [32]byte, error) {
	if c.artifact == nil {
		return listTree(ctx, c.storePath, true)
	}
	rc, err := r.bundle.OpenArtifactLimit(*c.artifact, narLimit(c.narSize))
	if err != nil {
		return nil, [32]byte{}, err
	}
	defer rc.Close()
	return listNAR(rc, true)
}

// narLimit is the decompression limit of an artifact whose subject signs
// narSize.
func narLimit(narSize uint64) int64 {
	if narSize > 1<<62 {
		return 1 << 62
	}
	return int64(narSize)
}

// runDiffoscope writes diffoscope's reports on an output's two trees to
// the keep directory, unpacking an artifact first.
func (r *rebuilder) runDiffoscope(ctx context.Context, o *Output, src treeSource, local string) {
	dir, err := r.keepDir()
	if err != nil {
		o.DiffoscopeError = err.Error()
		return
	}
	attested := src.storePath
	if src.artifact != nil {
		tmp, err := os.MkdirTemp("", "kettle-rebuild-attested-")
		if err != nil {
			o.DiffoscopeError = err.Error()
			return
		}
		defer os.RemoveAll(tmp)
		attested = filepath.Join(tmp, filepath.Base(o.StorePath))
		if err := r.unpackArtifact(src, attested); err != nil {
			o.DiffoscopeError = fmt.Sprintf("unpacking %s: %v", src, err)
			return
		}
	}
	text, html := reportNames(dir, o.StorePath)
	r.logf("diffoscope %s %s", attested, local)
	if err := r.diffoscope.compare(ctx, attested, local, text, html); err != nil {
		o.DiffoscopeError = err.Error()
		return
	}
	o.DiffoscopeReport, o.DiffoscopeHTML = text, html
}

func (r *rebuilder) unpackArtifact(src treeSource, dest string) error {
	rc, err := r.bundle.OpenArtifactLimit(*src.artifact, narLimit(src.narSize))
	if err != nil {
		return err
	}
	defer rc.Close()
	return unpackNAR(rc, dest)
}

// keepDir returns the directory for reports, making it on first use.
func (r *rebuilder) keepDir() (string, error) {
	if r.res.Keep != "" {
		return r.res.Keep, nil
	}
	dir := r.opts.Keep
	if dir == "" {
		d, err := os.MkdirTemp("", "kettle-rebuild-")
		if err != nil {
			return "", fmt.Errorf("making a directory for the reports: %w", err)
		}
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("--keep: %w", err)
	}
	r.res.Keep = dir
	return dir, nil
}
