//go:build !linux

package agent

import (
	"context"
	"errors"
	"io"
)

// NewSystem returns a System that fails: the agent runs only in a Linux VM.
func NewSystem(io.Writer) System { return otherSystem{} }

type otherSystem struct{}

func errNotLinux() error { return errors.New("the agent runs only as PID 1 of a Linux VM") }

func (otherSystem) Setup(context.Context) error         { return errNotLinux() }
func (otherSystem) OpenInput() (io.ReadCloser, error)   { return nil, errNotLinux() }
func (otherSystem) OpenResult() (io.WriteCloser, error) { return nil, errNotLinux() }

// PowerOff fails outside Linux.
func PowerOff() error { return errNotLinux() }
