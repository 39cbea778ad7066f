// Package nixcache writes and reads Nix binary caches in a directory, the
// layout `nix copy --to file://DIR` writes and Nix substitutes from with
// `file://DIR`: a nix-cache-info file, one <hash>.narinfo file per store
// path and the compressed NARs under nar/.
//
// A [Writer] serialises store paths with nixinputs.WriteNAR, checks each
// NAR against the hash and size the Nix database records, compresses it
// with pinned settings so that the bytes are reproducible, and writes its
// narinfo, signed with a Nix signing key ([SecretKey]) if given one.
// [Export] gathers the path information with a nixinputs.Driver.
//
// [Verify] checks a cache directory: every narinfo parsed strictly
// ([ParseNarInfo]), signed by a trusted key ([PublicKey]) or
// content-addressed ([ContentAddress]), and its NAR file's and NAR's
// hashes and sizes.
//
// Signatures are Nix's: Ed25519 over the fingerprint
// "1;<store path>;<NAR hash>;<NAR size>;<references>" ([NarInfo.Fingerprint]).
// A content-addressed path, whose store path is computed from its
// contents' hash, is accepted by Nix without a signature even when
// signatures are required; so a cache of content-addressed paths can be
// offered by a host that is not trusted.
package nixcache
