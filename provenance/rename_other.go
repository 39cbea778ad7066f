//go:build !linux

package provenance

// renameNoReplace renames from to to, failing if to exists.
func renameNoReplace(from, to string) error {
	return renameByLink(from, to)
}
