package nixinputs

import (
	"context"
	"fmt"
	"slices"
)

// PathInfoer queries the Nix database; *Driver is one.
type PathInfoer interface {
	PathInfo(ctx context.Context, paths ...string) (map[string]PathInfo, error)
}

// SourceClosure returns the sources a build sees: the direct sources (the
// inputSrcs of a closure) and every store path they reference, followed
// through the Nix database until none is new — a builtins.toFile text, for
// one, may name other store paths. It returns the sorted closure and the
// database's information on every path of it.
func SourceClosure(ctx context.Context, db PathInfoer, direct []string) ([]string, map[string]PathInfo, error) {
	infos, err := db.PathInfo(ctx, direct...)
	if err != nil {
		return nil, nil, err
	}
	seen := make(map[string]bool, len(direct))
	for _, p := range direct {
		seen[p] = true
	}
	for frontier := direct; len(frontier) > 0; {
		var next []string
		for _, p := range frontier {
			info, ok := infos[p]
			if !ok {
				return nil, nil, fmt.Errorf("store path %s is not valid in the Nix database", p)
			}
			for _, r := range info.References {
				if !seen[r] {
					seen[r] = true
					next = append(next, r)
				}
			}
		}
		if len(next) > 0 {
			more, err := db.PathInfo(ctx, next...)
			if err != nil {
				return nil, nil, err
			}
			for p, i := range more {
				infos[p] = i
			}
		}
		frontier = next
	}
	srcs := make([]string, 0, len(seen))
	for p := range seen {
		srcs = append(srcs, p)
	}
	slices.Sort(srcs)
	return srcs, infos, nil
}

// CrossCheck compares Kettle's own NAR hashes of paths with the Nix
// database's narHash and narSize: a path whose contents changed behind
// Nix's back fails, naming the path.
func CrossCheck(paths []string, ours map[string]NarHash, db map[string]PathInfo) error {
	for _, p := range paths {
		h, ok := ours[p]
		if !ok {
			return fmt.Errorf("store path %s was not hashed", p)
		}
		info, ok := db[p]
		if !ok {
			return fmt.Errorf("store path %s is not valid in the Nix database", p)
		}
		if info.NarHash != h.SHA256 {
			return fmt.Errorf("store path %s: NAR hash %x computed by kettle disagrees with the Nix database's %x (the store is corrupt or was modified)", p, h.SHA256, info.NarHash)
		}
		if info.NarSize != 0 && info.NarSize != h.Size {
			return fmt.Errorf("store path %s: NAR size %d computed by kettle disagrees with the Nix database's %d", p, h.Size, info.NarSize)
		}
	}
	return nil
}
