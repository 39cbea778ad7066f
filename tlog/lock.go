package tlog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// lockPoll is how often a lock held by another process is tried again.
const lockPoll = 50 * time.Millisecond

// lockLog takes the log's append lock: exclusive for an appender, shared
// for a reader, so that a reader never sees an append half done. It waits
// for another process's lock until ctx is done. A reader of a log without
// the lock file (a copy made without it) takes no lock.
func lockLog(ctx context.Context, dir string, exclusive bool) (unlock func(), err error) {
	p := logFiles{dir}.path(FileLock)
	var f *os.File
	if exclusive {
		f, err = os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	} else {
		f, err = os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			return func() {}, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", FileLock, unwrapPath(err))
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			f.Close()
			return nil, fmt.Errorf("%s: locking: %w", FileLock, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another kettle process's lock on %s: %w", FileLock, ctx.Err())
		case <-time.After(lockPoll):
		}
	}
}
