// Package nixcache writes and reads Nix binary caches in a directory, the
// layout `nix copy --to file://DIR` writes and Nix substitutes from with
// `file://DIR`: a nix-cache-info file, one <hash>.narinfo file per store
// path and the compressed NARs under nar/.
//
// A [Writer] serialises store paths with nixinputs.WriteNAR, or takes
// their NARs from a stream ([Entry]), checks each NAR against the hash and
// size recorded for it, compresses it with pinned settings so that the
// bytes are reproducible, and writes its narinfo, signed with a Nix
// signing key ([SecretKey]) if given one. A narinfo may name, in its
// Kettle-Bundle field ([BundleField]), a bundle the cache holds under
// kettle/bundles/ ([Writer.AddBundle]). A cache that [Open] creates
// appears at its path only when committed; one it adds to loses, on
// abort, what was added. A narinfo that the cache has for a path is never
// replaced by one of another store object. [Export] gathers the path
// information with a nixinputs.Driver.
//
// [Check] checks a cache directory and reports on each path: every file
// one a cache has, every narinfo parsed strictly ([ParseNarInfo]), signed
// by a trusted key ([PublicKey]) or content-addressed ([ContentAddress]),
// and its NAR file's and NAR's hashes and sizes. [Verify] is Check that
// stops at the first problem.
//
// A [RefScanner] finds a NAR's references among candidate store paths, as
// Nix's reference scanner does.
//
// Signatures are Nix's: Ed25519 over the fingerprint
// "1;<store path>;<NAR hash>;<NAR size>;<references>" ([NarInfo.Fingerprint]).
// A content-addressed path, whose store path is computed from its
// contents' hash, is accepted by Nix without a signature even when
// signatures are required; so a cache of content-addressed paths can be
// offered by a host that is not trusted.
package nixcache
