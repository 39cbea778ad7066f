// Package verify checks a bundle link by link and reports each link on its
// own line: the bundle is read, the hardware signature chain is checked to
// the vendor root, then the TCB policy, the launch measurement, the binding
// of provenance.json into the report, the provenance itself, the input
// manifest's root, the agreement of the provenance's resolvedDependencies
// with the manifest, and the subjects against the NAR hashes of the bundle's
// artifacts or of local store paths.
//
// Bundles of Kettle and of the foreign attested-build tool
// (github.com/confidential-dot-ai/kettle, formerly lunal-dev/kettle) are
// read; which one a bundle is, which of the foreign tool's formats, and by
// which rule its evidence binds its provenance, is decided once when the
// bundle is read (Format), and every later step asks that value: for a
// foreign bundle, the manifest step recomputes its input Merkle root, the
// dependencies step checks its lock file, the subjects step its raw
// artifacts, and what the in-toto library refuses of its provenance is a
// Warning (a failure with Options.Strict).
//
// The package runs no nix: re-hashing local store paths comes in through
// the StoreHasher interface.
package verify
