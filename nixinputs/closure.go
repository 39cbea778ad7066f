package nixinputs

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"

	"github.com/kettle-build/kettle/internal/inputfile"
)

// Closure is the set of derivations reachable from some root derivations
// through their input derivations.
type Closure struct {
	Roots       []string               // the root .drv paths, sorted
	Derivations map[string]*Derivation // by .drv path
}

// Paths returns the .drv paths of the closure, sorted.
func (c *Closure) Paths() []string {
	return slices.Sorted(maps.Keys(c.Derivations))
}

// InputSrcs returns the union of the input sources of every derivation in
// the closure, sorted and without duplicates.
func (c *Closure) InputSrcs() []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range c.Derivations {
		for _, s := range d.InputSrcs {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out
}

// WalkOptions tunes WalkClosure.
type WalkOptions struct {
	// Workers is the number of .drv files read and parsed at once;
	// 0 means runtime.GOMAXPROCS(0).
	Workers int
	// StoreRoot, if set, is prefixed to every .drv path before reading it:
	// the store is mounted elsewhere than its logical location, as with a
	// chroot store (nix --store /mnt → /mnt/nix/store/…). Paths in the
	// result stay logical.
	StoreRoot string
}

// WalkClosure reads the derivation closure of roots from the file system:
// every .drv reachable through inputDrvs, each read and parsed exactly once,
// breadth first, by a bounded pool of workers. It does not run nix.
//
// An unreadable or malformed .drv fails the walk with an error naming the
// file and the derivation that referred to it.
func WalkClosure(ctx context.Context, roots []string, opts WalkOptions) (*Closure, error) {
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	c := &Closure{Derivations: map[string]*Derivation{}}

	// parent records, for every path queued, the derivation that first
	// referred to it ("" for a root); it doubles as the seen set.
	parent := map[string]string{}
	var queue []string
	for _, r := range roots {
		if !strings.HasSuffix(r, ".drv") {
			return nil, fmt.Errorf("closure root %q is not a .drv path", r)
		}
		if _, ok := parent[r]; !ok {
			parent[r] = ""
			queue = append(queue, r)
			c.Roots = append(c.Roots, r)
		}
	}
	sort.Strings(c.Roots)
	if len(queue) == 0 {
		return c, nil
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type result struct {
		path string
		drv  *Derivation
		err  error
	}
	jobs := make(chan string)
	results := make(chan result, workers)
	for i := 0; i < workers; i++ {
		go func() {
			var buf []byte // reused: the parser copies what it keeps
			for p := range jobs {
				var r result
				r.path = p
				if err := ctx.Err(); err != nil {
					r.err = err
				} else {
					file := p
					if opts.StoreRoot != "" {
						file = filepath.Join(opts.StoreRoot, p)
					}
					buf, r.err = readSmallFile(file, buf[:0])
					if r.err == nil {
						r.drv, r.err = ParseDerivation(p, buf)
					} else {
						r.err = fmt.Errorf("reading derivation %s: %w", p, r.err)
					}
				}
				results <- r
			}
		}()
	}

	// The coordinator owns queue, parent and c; workers only read files.
	// results has room for every job in flight, so workers never block on
	// it for long, and the loop drains it before returning.
	var firstErr error
	inflight := 0
	done := ctx.Done() // set to nil once failed, so the loop only drains
	for (len(queue) > 0 && firstErr == nil) || inflight > 0 {
		var send chan string
		var next string
		if len(queue) > 0 && firstErr == nil {
			send, next = jobs, queue[0]
		}
		select {
		case send <- next:
			queue = queue[1:]
			inflight++
		case r := <-results:
			inflight--
			if firstErr != nil {
				continue
			}
			if r.err != nil {
				firstErr = r.err
				if from := parent[r.path]; from != "" && ctx.Err() == nil {
					firstErr = fmt.Errorf("%w (an input of %s)", r.err, from)
				}
				cancel()
				done = nil
				continue
			}
			c.Derivations[r.path] = r.drv
			// Sorted, so that the walk order, and with it the parent
			// named in errors, is deterministic.
			for _, in := range slices.Sorted(maps.Keys(r.drv.InputDrvs)) {
				if _, ok := parent[in]; !ok {
					parent[in] = r.path
					queue = append(queue, in)
				}
			}
		case <-done:
			firstErr = ctx.Err()
			done = nil
		}
	}
	close(jobs)
	if firstErr != nil {
		return nil, firstErr
	}
	return c, nil
}

// MaxDerivationSize bounds a .drv file. Nix writes derivations of a few
// KiB; the largest in nixpkgs, with long inline scripts or environments,
// are a few MiB.
const MaxDerivationSize = 64 << 20

// readSmallFile appends the contents of the .drv file at path to buf: a
// regular file of at most MaxDerivationSize bytes, read with raw system
// calls because a closure walk reads thousands of small files (see
// inputfile.Append).
func readSmallFile(path string, buf []byte) ([]byte, error) {
	return inputfile.Append(buf, path, MaxDerivationSize)
}
