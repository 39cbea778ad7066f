//go:build !linux

package tlog

// renameNoReplace renames the directory from to to, failing if to exists.
func renameNoReplace(from, to string) error { return renameChecked(from, to) }
