// Command kettle builds a pinned Nix flake, records every input of its
// derivation closure in a Merkle-rooted manifest, writes SLSA provenance for
// the outputs, binds the provenance into a hardware attestation report, and
// verifies such bundles offline.
//
// This package only parses flags and prints; the work is in builder.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is set at link time (-ldflags "-X main.version=v0.1.0").
var version = ""

// exitError carries an exit code through cobra's error return.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	// SIGINT and SIGTERM cancel the command's context: a build stops nix
	// and removes its staging directory, and kettle exits non-zero. A
	// second signal kills the process as usual.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }()
	cmd := newRootCommand(os.Stdout, os.Stderr)
	if err := cmd.ExecuteContext(ctx); err != nil {
		code := 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		if ee == nil || ee.err != errSilent {
			fmt.Fprintf(os.Stderr, "kettle: %v\n", err)
		}
		os.Exit(code)
	}
}

// errSilent marks a failure whose report has already been printed.
var errSilent = errors.New("verification failed")
