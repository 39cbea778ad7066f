package step

import (
	"errors"
	"io"
	"testing"
)

type name string

func (n name) Title() string { return "the " + string(n) + " step" }

type other string

func (o other) Title() string { return string(o) }

func TestError(t *testing.T) {
	var err error = &Error[name]{Step: "chain", Err: io.ErrUnexpectedEOF}
	if got, want := err.Error(), "the chain step: unexpected EOF"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Error("errors.Is does not find the cause")
	}
	var se *Error[name]
	if !errors.As(err, &se) || se.Step != "chain" {
		t.Errorf("errors.As: %v", se)
	}
	// Each verifier's errors are of their own type.
	var oe *Error[other]
	if errors.As(err, &oe) {
		t.Error("an Error[name] is taken for an Error[other]")
	}
}
