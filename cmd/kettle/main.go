// Command kettle builds a pinned Nix flake, records every input of its
// derivation closure in a Merkle-rooted manifest, writes SLSA provenance for
// the outputs, binds the provenance into a hardware attestation report, and
// verifies such bundles offline.
//
// This package only parses flags and prints; the work is in builder.
//
// Exit status: 0 on success, 1 on failure (a build that failed, a bundle
// that does not verify), 2 on a usage error (an unknown command or flag, a
// wrong number of arguments, a bad flag value or policy), and 128+n when
// stopped by signal n (SIGINT, SIGTERM).
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

// usageError marks err as a usage error: exit status 2.
func usageError(err error) error { return &exitError{2, err} }

func main() {
	os.Exit(run())
}

// run runs the command line and returns the exit status. SIGINT or
// SIGTERM cancels the command's context, which stops nix and removes
// partial output; a second signal has its default effect.
func run() int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	caught := make(chan syscall.Signal, 1)
	go func() {
		s, ok := <-signals
		if !ok {
			return
		}
		signal.Stop(signals)
		caught <- s.(syscall.Signal)
		cancel()
	}()
	defer func() {
		signal.Stop(signals)
		close(signals)
	}()

	root := newRootCommand(os.Stdout, os.Stderr)
	cmd, err := root.ExecuteContextC(ctx)
	code := 0
	if err != nil {
		code = 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		if ee == nil || ee.err != errSilent {
			fmt.Fprintf(os.Stderr, "kettle: %v\n", err)
		}
		if code == 2 && cmd != nil {
			fmt.Fprintf(os.Stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
	}
	select {
	case s := <-caught:
		if err == nil {
			fmt.Fprintf(os.Stderr, "kettle: stopped by %v\n", s)
		}
		return 128 + int(s)
	default:
	}
	return code
}

// errSilent marks a failure whose report has already been printed.
var errSilent = errors.New("verification failed")
