// Package nixinputs reads Nix: flake references, flake.lock files, the nix
// command-line driver (flake metadata, build, path-info, and nix-store's
// realise and check-mode rebuilds), the .drv closure walk, NAR
// serialisation and hashing, and store path information.
//
// Everything Kettle records about a build's inputs comes from here. The
// package parses untrusted input (flake.lock, .drv files, Nix's JSON output)
// defensively: bad input yields an error naming the file or field, never a
// panic.
//
// The nix binary is driven through [Driver]. Nix's JSON output changed shape
// across releases (notably `nix path-info --json`, an array up to Nix 2.18 and
// an object keyed by store path from 2.19 on); the decoders here accept every
// shape known to be in use, from Nix 2.8 up.
//
// Derivations are read from the .drv files themselves with go-nix's ATerm
// parser rather than from `nix derivation show`, whose JSON changed across
// releases.
package nixinputs
