package report

import (
	"context"
	"fmt"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/sync/errgroup"

	"github.com/kettle-build/kettle/rebuild"
	"github.com/kettle-build/kettle/tlog"
)

// Rebuild rebuilds each bundle with opts (its Bundle set to the bundle),
// at most jobs at a time (0 or 1: one after the other), and returns the
// results in the order of bundles. A rebuild that stops (a bundle that
// does not verify, a build that fails) is a result like any other, its
// Error saying why; only a bundle that cannot be rebuilt at all (no result)
// or a cancelled context is an error.
func Rebuild(ctx context.Context, bundles []string, opts rebuild.Options, jobs int) ([]rebuild.Result, error) {
	results := make([]rebuild.Result, len(bundles))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, jobs))
	for i, b := range bundles {
		g.Go(func() error {
			o := opts
			o.Bundle = b
			res, err := rebuild.Run(ctx, o)
			if res == nil {
				return fmt.Errorf("rebuild %s: %w", b, err)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			results[i] = *res
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return results, nil
}

// LogBundles verifies the transparency log at dir with the verifier key
// the user trusts and returns the stored bundle of each entry, in the
// log's order.
func LogBundles(ctx context.Context, dir string, v note.Verifier) ([]string, error) {
	res, err := tlog.Verify(ctx, dir, tlog.VerifyOptions{Verifier: v})
	if err != nil {
		return nil, err
	}
	if len(res.Entries) == 0 {
		return nil, fmt.Errorf("log %s: no entries", dir)
	}
	bundles := make([]string, len(res.Entries))
	for i, e := range res.Entries {
		bundles[i] = e.BundlePath
	}
	return bundles, nil
}
