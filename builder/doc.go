// Package builder runs Kettle's pipeline, shared by the local CLI and the
// in-CVM agent: resolve the flake → realise it → walk the derivation closure →
// hash every output and source → fill the input manifest → write SLSA
// provenance → attest → write the bundle. Verify walks a bundle back through
// the same links in the order DESIGN.md fixes.
//
// builder is the only package that knows all three of nixinputs, provenance
// and attest; they know nothing of each other.
package builder
