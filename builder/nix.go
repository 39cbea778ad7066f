package builder

import (
	"context"

	"github.com/kettle-build/kettle/nixinputs"
)

// Nix is what Build needs of Nix: the nix command (resolve, instantiate,
// build, query the database, name itself) and the store's files (the .drv
// closure walk and NAR hashing). NixDriver provides it with the real nix;
// tests provide fakes.
type Nix interface {
	nixinputs.PathInfoer
	// ValidPathInfo is PathInfo for paths that need not be valid: those
	// that are not are left out of the result.
	ValidPathInfo(ctx context.Context, paths ...string) (map[string]nixinputs.PathInfo, error)
	Metadata(ctx context.Context, flakeURL string) (*nixinputs.Metadata, error)
	Instantiate(ctx context.Context, installable string) ([]string, error)
	Build(ctx context.Context, installable string) ([]nixinputs.BuildResult, error)
	Version(ctx context.Context) (string, error)
	BinaryPath() (string, error)
	WalkClosure(ctx context.Context, roots []string, workers int) (*nixinputs.Closure, error)
	HashPaths(ctx context.Context, paths []string, workers int) (map[string]nixinputs.NarHash, error)
}

// NixDriver returns the Nix of the nix command d runs and of the store on
// this machine's file system.
func NixDriver(d *nixinputs.Driver) Nix { return nixDriver{d} }

type nixDriver struct{ *nixinputs.Driver }

func (nixDriver) WalkClosure(ctx context.Context, roots []string, workers int) (*nixinputs.Closure, error) {
	return nixinputs.WalkClosure(ctx, roots, nixinputs.WalkOptions{Workers: workers})
}

func (nixDriver) HashPaths(ctx context.Context, paths []string, workers int) (map[string]nixinputs.NarHash, error) {
	return nixinputs.HashPaths(ctx, paths, workers)
}
