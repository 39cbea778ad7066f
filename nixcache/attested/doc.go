// Package attested writes the store paths that Kettle bundles attest to a
// Nix binary cache, and verifies such a cache against its bundles.
//
// Export takes bundles, verifies each (package verify, with the options
// of kettle verify) and writes, with one nixcache.Writer, every subject
// of every bundle and the closure of their references: each narinfo
// signed and naming, in its Kettle-Bundle field, the bundle that attests
// the path's NAR hash, and each of those bundles copied into the cache as
// kettle/bundles/<SHA-256 of its provenance.json>.tar. A bundle attests a
// path when the path is one of its subjects or a manifest leaf names it
// with its NAR SHA-256 (claimsOf). A path's NAR comes from the bundle's
// artifacts/ or, when it is given, the local Nix store, re-hashed and
// checked against the bundle; its references from the local store's
// database, or else from a scan of the NAR for the hash parts of the
// paths the bundles attest. A reference that is neither attested nor
// already in the cache is refused, so that a cache Export wrote always
// holds the closure of what it names.
//
// Verify checks a cache: every file is one a cache has (nixcache.Check),
// every narinfo signed by a trusted key or content-addressed, its NAR's
// hashes and sizes recomputed, every bundle verified (its subjects
// against the cache's NARs), and every path attested by the bundle its
// narinfo names, with the same NAR hash and size, and its references in
// the cache.
package attested
