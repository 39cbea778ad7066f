package nixinputs

import (
	"fmt"
	"strings"
)

// BuildResult is one built installable as `nix build --json` reports it.
type BuildResult struct {
	DrvPath string
	Outputs map[string]string // output name → store path
}

// decodeBuildResults decodes `nix build --json` output (the same shape from
// Nix 2.8 on: an array of {"drvPath", "outputs", …}) and checks that every
// entry names its derivation and at least one absolute output path.
func decodeBuildResults(data []byte) ([]BuildResult, error) {
	var raw []struct {
		DrvPath string            `json:"drvPath"`
		Outputs map[string]string `json:"outputs"`
	}
	if k := jsonKind(data); k != "an array" {
		return nil, fmt.Errorf("unexpected --json output: want an array, got %s", k)
	}
	if err := decodeJSON(data, &raw); err != nil {
		return nil, fmt.Errorf("unexpected --json output: %w", err)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("nix reported nothing built")
	}
	out := make([]BuildResult, 0, len(raw))
	for i, r := range raw {
		if !strings.HasPrefix(r.DrvPath, "/") || !strings.HasSuffix(r.DrvPath, ".drv") {
			return nil, fmt.Errorf("result %d: drvPath %q is not a .drv store path", i, r.DrvPath)
		}
		if len(r.Outputs) == 0 {
			return nil, fmt.Errorf("result %d (%s): no outputs", i, r.DrvPath)
		}
		for name, p := range r.Outputs {
			if !strings.HasPrefix(p, "/") {
				return nil, fmt.Errorf("result %d (%s): output %q has path %q, want an absolute store path", i, r.DrvPath, name, p)
			}
		}
		out = append(out, BuildResult{DrvPath: r.DrvPath, Outputs: r.Outputs})
	}
	return out, nil
}
