{
  description = "Offline stand-in for nixpkgs, for Kettle's tests: nixpkgs' lib and this machine's binaries";

  # No machine of this project can fetch nixpkgs, so the tests build the
  # project's flake.nix with `--override-input nixpkgs path:…/nix/stand-in`.
  # This flake provides what flake.nix and the CVM image use, with nixpkgs'
  # names and interfaces, built from binaries already on the machine and
  # imported as path inputs, locked by NAR hash. Paths differ by machine, so
  # there is no committed flake.lock: tests/flake_test.go writes one into a
  # temporary copy with `nix flake lock` (which works offline for path inputs),
  # pointing nixpkgs-lib at <repo>/../shared/nixpkgs-lib.
  inputs = {
    nixpkgs-lib.url = "path:/work/shared/nixpkgs-lib";
    # Debian's busybox-static.
    busybox = { url = "path:/bin/busybox"; flake = false; };
    # The Go toolchain ($(go env GOROOT)).
    go = { url = "path:/usr/local/go"; flake = false; };
    # Debian's kernel (linux-image-amd64): /boot/vmlinuz-<version> and its modules.
    boot = { url = "path:/boot"; flake = false; };
    modules = { url = "path:/lib/modules"; flake = false; };
    # Debian's OVMF (ovmf).
    ovmf = { url = "path:/usr/share/ovmf"; flake = false; };
    # Debian's nix-bin: the nix binary, its own libraries, and the system
    # libraries it links against (only those end up in the package).
    nix-bin = { url = "path:/usr/bin/nix"; flake = false; };
    nix-libs = { url = "path:/usr/lib/nix"; flake = false; };
    system-libs = { url = "path:/usr/lib/x86_64-linux-gnu"; flake = false; };
  };

  outputs =
    inputs@{ self, nixpkgs-lib, ... }:
    let
      inherit (nixpkgs-lib) lib;

      # Every package is made from x86_64-linux binaries. aarch64-linux gets the
      # same expressions so that the project's aarch64-linux outputs evaluate;
      # they cannot be built here (nor anywhere: the binaries are x86_64).
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];

      pkgsFor = system: import ./packages.nix { inherit lib system inputs; };
    in
    {
      inherit lib;

      legacyPackages = lib.genAttrs systems pkgsFor;

      packages = lib.genAttrs systems (
        system: lib.filterAttrs (_: lib.isDerivation) (pkgsFor system)
      );
    };
}
