// Package verify checks a bundle link by link and reports each link on its
// own line: the bundle is read, the hardware signature chain is checked to
// the vendor root, then the TCB policy, the launch measurement, the binding
// of provenance.json into the report, the provenance itself, the input
// manifest's root, the agreement of the provenance's resolvedDependencies
// with the manifest, and the subjects against the NAR hashes of the bundle's
// artifacts or of local store paths.
//
// Bundles of Kettle and of the foreign attested-build tool
// (github.com/lunal-dev/kettle) are read; which one a bundle is, and by
// which rule its evidence binds its provenance, is decided once when the
// bundle is read (Format), and every later step asks that value.
//
// The package runs no nix: re-hashing local store paths comes in through
// the StoreHasher interface.
package verify
