package nixinputs

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/kettle-build/kettle/internal/nixstore"
	"github.com/kettle-build/kettle/internal/strictjson"
)

// archiveJSON is one node of `nix flake archive --json` output.
type archiveJSON struct {
	Path   string                 `json:"path"`
	Inputs map[string]archiveJSON `json:"inputs"`
}

// FlakeSourcePaths returns the store paths of a flake's source and of every
// input in its lock file, as `nix flake archive --json --dry-run` lists
// them (it copies nothing), sorted and without duplicates.
func (d *Driver) FlakeSourcePaths(ctx context.Context, flakeURL string) ([]string, error) {
	out, err := d.run(ctx, "flake", "archive", "--json", "--dry-run", "--no-update-lock-file", flakeURL)
	if err != nil {
		return nil, err
	}
	return decodeArchive(out)
}

func decodeArchive(data []byte) ([]string, error) {
	var root archiveJSON
	if err := strictjson.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("nix flake archive --json: %w", err)
	}
	seen := map[string]bool{}
	var walk func(n archiveJSON, where string) error
	walk = func(n archiveJSON, where string) error {
		if err := nixstore.CheckPath(n.Path); err != nil {
			return fmt.Errorf("nix flake archive --json: %s: path %q: %w", where, n.Path, err)
		}
		seen[n.Path] = true
		for _, name := range slices.Sorted(maps.Keys(n.Inputs)) {
			if err := walk(n.Inputs[name], where+"/"+name); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root, "flake"); err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(seen)), nil
}
