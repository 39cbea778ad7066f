package verify

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNoNix: the verifier links nothing that reads Nix or runs a
// program — not nixinputs, not builder, not os/exec — so a pure verifier
// needs no nix.
func TestImportsNoNix(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to list the package's dependencies")
	}
	out, err := exec.Command(goBin, "list", "-deps", "github.com/kettle-build/kettle/verify").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch dep {
		case "github.com/kettle-build/kettle/nixinputs", "github.com/kettle-build/kettle/builder", "os/exec":
			t.Errorf("verify depends on %s", dep)
		}
	}
}
