package tlog

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api/layout"
)

// Verdict is what verifying a staged bundle said.
type Verdict struct {
	OK bool
	// Reason says why the bundle did not verify: the broken link and its
	// detail. It is made one line of at most MaxReasonLen bytes.
	Reason string
}

// Item is one bundle to append, with its verdict.
type Item struct {
	Bundle  *Staged
	Verdict Verdict
}

// AppendOptions say what Append accepts.
type AppendOptions struct {
	// AllowUnverified logs a bundle that did not verify; its entry says
	// "verified no: <reason>". Without it such a bundle is refused.
	AllowUnverified bool
}

// Appended is one bundle's place in the log.
type Appended struct {
	Entry
	// Duplicate: the bundle was in the log already, at Entry.Index, and
	// nothing was appended for it.
	Duplicate bool
}

// ErrUnverified is returned for a bundle that did not verify, without
// AppendOptions.AllowUnverified.
var ErrUnverified = errors.New("the bundle did not verify")

// Append logs the staged bundles, in order, and waits until a checkpoint
// covers them. Every check comes first, so that a refused bundle leaves
// the log as it was: a bundle that did not verify is refused unless
// opts.AllowUnverified, and a bundle whose provenance is logged already is
// a duplicate — the same bundle (the same archive SHA-256) returns the
// entry that logs it and appends nothing, another bundle with that
// provenance is refused. Then each bundle is moved to
// bundles/<provenance-sha256>.tar and its entry handed to tessera; a
// bundle stored with no entry (an append that stopped in between) is only
// named by the entry when it is appended again. The staged copies of
// duplicates are discarded.
func (l *Log) Append(ctx context.Context, items []Item, opts AppendOptions) ([]Appended, error) {
	plan, err := l.plan(items, opts)
	if err != nil {
		return nil, err
	}
	futures := make([]tessera.IndexFuture, len(plan))
	for i, p := range plan {
		if p.Duplicate {
			p.staged.Discard()
			continue
		}
		if err := os.Rename(p.staged.path, l.files.path(bundleRel(p.ProvenanceSHA256))); err != nil {
			return nil, fmt.Errorf("bundle %s: storing it: %w", p.staged.source, err)
		}
		p.staged.path = ""
		futures[i] = l.appender.Add(ctx, tessera.NewEntry(p.text))
	}
	sizeBefore := l.size
	out := make([]Appended, len(plan))
	for i, p := range plan {
		out[i] = p.Appended
		if futures[i] == nil {
			continue
		}
		index, cp, err := l.awaiter.Await(ctx, futures[i])
		if err != nil {
			return nil, fmt.Errorf("bundle %s: appending: %w", p.staged.source, err)
		}
		out[i].Index = index.Index
		out[i].BundlePath = l.files.path(bundleRel(p.ProvenanceSHA256))
		l.byDigest[p.ProvenanceSHA256] = out[i].Entry
		l.size = max(l.size, index.Index+1)
		l.checkpoint = cp
	}
	if l.size > sizeBefore {
		if err := l.collectPartials(sizeBefore, l.size); err != nil {
			return out, err
		}
	}
	return out, nil
}

// planned is one item once checked: its entry and text, or the entry it
// duplicates.
type planned struct {
	Appended
	staged *Staged
	text   []byte
}

func (l *Log) plan(items []Item, opts AppendOptions) ([]planned, error) {
	plan := make([]planned, len(items))
	batch := map[[32]byte]int{} // provenance → first item of this batch
	for i, it := range items {
		s := it.Bundle
		if s == nil || s.path == "" {
			return nil, fmt.Errorf("item %d: no staged bundle", i)
		}
		e := s.entry
		e.Verified = it.Verdict.OK
		if !e.Verified {
			if !opts.AllowUnverified {
				return nil, fmt.Errorf("bundle %s: %w (%s); --allow-unverified logs it as unverified", s.source, ErrUnverified, reasonLine(it.Verdict.Reason))
			}
			e.Reason = reasonLine(it.Verdict.Reason)
		}
		if old, ok := l.byDigest[e.ProvenanceSHA256]; ok {
			if old.BundleSHA256 != e.BundleSHA256 {
				return nil, fmt.Errorf("bundle %s: its provenance %x is logged already, at index %d, with another bundle (SHA-256 %x, this one's is %x)", s.source, e.ProvenanceSHA256, old.Index, old.BundleSHA256, e.BundleSHA256)
			}
			plan[i] = planned{Appended: Appended{Entry: old, Duplicate: true}, staged: s}
			continue
		}
		if j, ok := batch[e.ProvenanceSHA256]; ok {
			if plan[j].BundleSHA256 != e.BundleSHA256 {
				return nil, fmt.Errorf("bundles %s and %s: the same provenance %x in two different bundles", items[j].Bundle.source, s.source, e.ProvenanceSHA256)
			}
			return nil, fmt.Errorf("bundles %s and %s: the same bundle twice", items[j].Bundle.source, s.source)
		}
		batch[e.ProvenanceSHA256] = i
		text, err := e.Marshal()
		if err != nil {
			return nil, fmt.Errorf("bundle %s: %w", s.source, err)
		}
		plan[i] = planned{Appended: Appended{Entry: e}, staged: s, text: text}
	}
	return plan, nil
}

// collectPartials removes the partial tiles and entry bundles whose full
// version the appends from size from to size to completed, once a
// checkpoint covers them: C2SP tlog-tiles lets a log remove them, clients
// then read the full one, and tessera's own collector does the same on a
// timer.
func (l *Log) collectPartials(from, to uint64) error {
	for index := from / layout.EntryBundleWidth; (index+1)*layout.EntryBundleWidth <= to; index++ {
		if err := os.RemoveAll(l.files.path(layout.EntriesPath(index, 0) + ".p")); err != nil {
			return err
		}
	}
	for level := uint64(0); level < 64 && to>>(layout.TileHeight*level) > 0; level++ {
		f, t := from>>(layout.TileHeight*level), to>>(layout.TileHeight*level)
		for index := f / layout.TileWidth; (index+1)*layout.TileWidth <= t; index++ {
			if err := os.RemoveAll(l.files.path(layout.TilePath(level, index, 0) + ".p")); err != nil {
				return err
			}
		}
	}
	return nil
}
