package tlog

import (
	"fmt"
	"os"
)

// renameChecked renames from to to after checking that to does not exist;
// a directory cannot be linked, so this is the portable way.
func renameChecked(from, to string) error {
	if _, err := os.Lstat(to); err == nil {
		return fmt.Errorf("%s appeared while the log was being made", to)
	}
	return os.Rename(from, to)
}
