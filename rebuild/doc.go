// Package rebuild realises a bundle's locked flake ref again on this machine
// and compares what it builds with what the bundle attests, output by
// output: reproduced, differs, or not built.
//
// The bundle is verified first, with the verify package and the options
// `kettle verify` takes; one that does not verify is refused unless the
// caller allows it, and then every output says so. The locked ref is the
// provenance's locked source URL with its attribute, and the build's system
// must be this machine's. An output already valid in the local store is
// rebuilt in Nix's check mode (nix-store --realise --check), which keeps a
// differing rebuild beside it at <path>.check; one that is not is built.
// Either way the local tree is hashed by Kettle and compared with the
// attested NAR SHA-256.
//
// When an output differs, the two trees are listed from their NAR
// serialisations (the bundle's artifact, or a valid store path, against the
// rebuild) and the first differing entries named, with type, size, SHA-256,
// executable bit and symlink target; on request diffoscope runs on the two
// trees and its report is kept.
//
// With Options.Deep, a version 2 manifest's output leaves are compared for
// every derivation of the closure, bottom-up, and the derivations that
// first differ — those whose outputs differ while every input reproduced —
// are named.
//
// Result is the stable, JSON-tagged record of all of it.
package rebuild
