# The kettle package, written against nixpkgs' buildGoModule.
#
# flake.nix calls this file with the real nixpkgs, and the tests call it with
# the offline stand-in (nix/stand-in), whose buildGoModule accepts the same
# arguments. Use only what both provide.
{
  lib,
  buildGoModule,
  version ? "devel",
}:

let
  root = ../.;

  # The Go sources and nothing else, so that editing docs, tests, examples or
  # Nix files (or building into bin/) leaves the derivation unchanged: go.mod, go.sum, the non-test
  # .go files and the files they embed (//go:embed *.pem, *.tmpl). Test data, the
  # end-to-end tests and the examples (one has its own module) are left out.
  # vendorHash is computed over this tree: `go mod vendor` sees only it.
  keep =
    path: type:
    let
      rel = lib.removePrefix (toString root + "/") (toString path);
      name = baseNameOf rel;
      top = builtins.head (lib.splitString "/" rel);
    in
    if type == "directory" then
      !(builtins.elem top [
        ".git"
        ".ci"
        ".kettle"
        "bench"
        "bin"
        "examples"
        "nix"
        "tests"
        "vendor"
      ])
      && name != "testdata"
    else
      rel == "go.mod"
      || rel == "go.sum"
      || (lib.hasSuffix ".go" name && !lib.hasSuffix "_test.go" name)
      || lib.hasSuffix ".pem" name
      || lib.hasSuffix ".tmpl" name;
in
buildGoModule {
  pname = "kettle";
  inherit version;

  src = builtins.path {
    name = "kettle-src";
    path = root;
    filter = keep;
  };

  # The NAR hash of `go mod vendor`'s output for src; tests/flake_test.go
  # keeps it true and prints the new value when go.mod or go.sum change.
  vendorHash = "sha256-7gXyb41w24mJnXECvy6znViUhpCY2ekAiIQ92njTMII=";

  subPackages = [ "cmd/kettle" ];

  # Static: the CVM image runs this binary with no libc beside it. (Since
  # nixpkgs 25.05 buildGoModule takes it in env; a top-level CGO_ENABLED
  # only warns.)
  env.CGO_ENABLED = 0;

  ldflags = [
    "-s"
    "-w"
    "-X main.version=${version}"
  ];

  # The project's tests drive the real nix, a TPM simulator and the network,
  # none of which a Nix sandbox has; they run with `go test ./...` instead.
  doCheck = false;

  meta = {
    description = "Attested, hermetic Nix builds";
    homepage = "https://github.com/kettle-build/kettle";
    mainProgram = "kettle";
    platforms = [
      "x86_64-linux"
      "aarch64-linux"
    ];
  };
}
