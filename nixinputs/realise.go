package nixinputs

import (
	"context"
	"errors"
)

// Realise makes store paths valid with `nix build --no-link PATH…`: Nix
// substitutes them from its substituters, checking each against its hash
// (or signature), or fails naming the path.
func (d *Driver) Realise(ctx context.Context, paths ...string) error {
	if len(paths) == 0 {
		return errors.New("nothing to realise")
	}
	_, err := d.run(ctx, append([]string{"build", "--no-link"}, paths...)...)
	return err
}
