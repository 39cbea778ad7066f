// Package provenance holds what a Kettle build claims and how it is laid out
// on disk: the input manifest (every input of the derivation closure as a
// leaf of an RFC 9162 Merkle tree, see the merkle subpackage), the in-toto
// Statement with its SLSA Provenance v1 predicate, and the bundle that ships
// them together with the attestation evidence and, optionally, NAR exports
// of the outputs.
//
// The package takes plain values — store paths, digests, versions — and
// knows nothing of the Nix driver or of TEEs. Every encoder here writes
// deterministic bytes, and every decoder is strict: input that Kettle would
// not have written is rejected with an error that names the file or field
// and what was expected.
//
// # Manifest leaves (version 1)
//
// A leaf is one UTF-8 line kind:name:value. The kind is the text before the
// first ':', the value the text after the last ':' (never empty, never
// containing ':'), the name everything in between (never empty; it may
// contain ':', as URLs do). Digests are lower-case hex.
//
//	source:<locked flake URL>:<narHash as hex>
//	source:rev:<rev>
//	flake-input:<input path> <locked URL>:<narHash as hex>
//	drv:<.drv store path>:<SHA-256 of the .drv file>
//	src:<inputSrcs store path>:<NAR SHA-256>
//	fod:<name> mode=<flat|recursive|text> algo=<sha256|sha1|sha512|md5> url=<url or ->:<hash>
//	toolchain:<nix|kettle> <version>:<SHA-256 of the binary>
//
// The leaves are sorted bytewise and deduplicated, and the tree is the
// RFC 9162 Merkle Tree Hash over the leaves' bytes.
package provenance
