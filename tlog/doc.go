// Package tlog keeps a transparency log of bundles in a local directory:
// an append-only Merkle log whose entries each record one bundle, so that
// a researcher can show that a bundle was published and that the log
// never rewrote its history.
//
// The log is built on the transparency-dev libraries, not a format of its
// own: tessera's POSIX storage writes it (the C2SP tlog-tiles layout —
// checkpoint, tile/<L>/<N>, tile/entries/<N>, with ".p/<W>" for partial
// tiles — and tessera's .state/), checkpoints are C2SP tlog-checkpoints in
// C2SP signed notes (golang.org/x/mod/sumdb/note, Ed25519 keys), and
// proofs are RFC 9162 proofs made by tessera's client package and checked
// by transparency-dev/merkle. Tools that read tlog-tiles read the log, and
// it can move to tessera's other storage drivers. Kettle adds three things
// beside tessera's files: log.vkey (the log's verifier key, which appends
// are checked against; readers bring the key they trust), append.lock,
// and bundles/<provenance-sha256>.tar, a copy of every logged bundle.
//
// # Entries
//
// An entry is a few lines of text (Entry.Marshal documents them):
//
//	kettle-bundle-log-entry/v1
//	provenance-sha256 <hex>
//	bundle-sha256 <hex>
//	manifest-root <hex or ->
//	platform <platform or ->
//	verified yes              (or: verified no: <reason>)
//	subject <store path> <hex>
//
// The provenance digest is what the bundle's attestation binds; the bundle
// digest is of the stored archive, so an entry commits to the bundle's
// exact bytes. A bundle whose provenance is logged is not logged again.
//
// # Appending
//
// Open verifies the log and takes its lock; Stage copies a bundle into the
// log as one tar archive, which the caller verifies (the CLI runs the
// verify package on it); Append refuses a bundle that did not verify
// unless asked, then stores the archives and hands the entries to tessera,
// and returns once a signed checkpoint covers them. Every check comes
// before the first write, so a refused append changes nothing.
//
// # Reading
//
// Verify checks a whole log with the verifier key a reader trusts: the
// checkpoint's signature, every tile and entry bundle against the tree
// recomputed from the entries, every entry's form, every stored bundle's
// digest, tessera's state, and that no other file is there; with an old
// checkpoint, that the log still holds the tree it committed to. Entries
// does the same with the log's own key and returns the entries. Prove and
// Consistency make inclusion proofs (C2SP tlog-proofs, whose extra data is
// the entry) and consistency proofs (the C2SP tlog-witness "old <size>"
// body), which CheckInclusion and CheckConsistency check with the key
// alone.
package tlog
