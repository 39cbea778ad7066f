// Package step holds the error of a failed verification step, shared by the
// verifiers of package attest and package azsnp.
package step

// Error is a verification failure at one step. S is the verifier's type of
// step names; its Title is how verification reports show the step.
type Error[S interface{ Title() string }] struct {
	Step S
	Err  error
}

func (e *Error[S]) Error() string { return e.Step.Title() + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *Error[S]) Unwrap() error { return e.Err }
