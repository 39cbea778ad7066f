//go:build !linux

package nixinputs

import (
	"os"

	"golang.org/x/sys/unix"
)

// readDir lists the directory fd into lv through os.File, on a duplicate of
// fd so that fd stays open for the caller.
func (e *narEncoder) readDir(fd int, lv *dirLevel) error {
	lv.arena, lv.ents = lv.arena[:0], lv.ents[:0]
	dup, err := unix.Dup(fd)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(dup), e.path())
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return err
	}
	for _, ent := range ents {
		lv.add([]byte(ent.Name()), ent.Type())
	}
	lv.finish()
	return nil
}
