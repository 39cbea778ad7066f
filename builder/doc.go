// Package builder runs Kettle's pipeline as named stages: resolve the flake
// ref to a locked one → instantiate it → walk the derivation closure and
// hash its sources, while nix realises the outputs and Kettle hashes them →
// identify the toolchain → record the inputs in the manifest and the
// provenance → attest → write the bundle.
//
// Everything it needs of Nix comes through the Nix interface (NixDriver
// runs the real nix). builder is the only package that knows all three of
// nixinputs, provenance and attest; they know nothing of each other.
// Verification is package verify's.
package builder
