{
  description = "Kettle: attested, hermetic Nix builds";

  # nixpkgs is the one input. flake.lock pins a nixos-25.05 revision, whose
  # Go is 1.24 (see the README, "The project's flake"); the tests replace it
  # with the offline stand-in in nix/stand-in (--override-input nixpkgs
  # path:…/nix/stand-in).
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;

      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});

      # The git revision, as `make kettle` stamps it (git describe), or
      # "dirty" for a tree Nix knows no revision of.
      version = self.shortRev or self.dirtyShortRev or "dirty";
    in
    {
      packages = forAllSystems (
        system: pkgs:
        {
          kettle = pkgs.callPackage ./nix/kettle.nix { inherit version; };
          default = self.packages.${system}.kettle;
        }
        // lib.optionalAttrs (system == "x86_64-linux") {
          # The CVM image (cvm/image.nix). With real nixpkgs: a kernel with
          # the guest drivers built in, the AmdSev OVMF and a static Nix
          # (nix/cvm-nixpkgs.nix, never built on the machines this project is
          # tested on); with the offline stand-in: Debian's kernel, OVMF and
          # nix-bin, as the tests build it.
          cvm-image = pkgs.callPackage ./cvm/image.nix (
            { kettle = self.packages.${system}.kettle; }
            // (if pkgs ? pkgsStatic then import ./nix/cvm-nixpkgs.nix pkgs else {
              inherit (pkgs) busybox nix linux;
              firmware = pkgs.OVMF.mergedFirmware;
            })
          );
        }
      );

      apps = forAllSystems (
        system: pkgs:
        let
          kettle = {
            type = "app";
            program = lib.getExe self.packages.${system}.kettle;
            meta.description = "Build a flake attested, or verify a bundle";
          };
        in
        {
          inherit kettle;
          default = kettle;
        }
      );

      devShells = forAllSystems (
        system: pkgs: {
          default = pkgs.mkShell {
            packages = [ pkgs.go ];
            # As the package builds: a static binary, no toolchain download.
            CGO_ENABLED = 0;
            GOTOOLCHAIN = "local";
          };
        }
      );

      checks = forAllSystems (
        system: pkgs:
        let
          kettle = self.packages.${system}.kettle;
        in
        {
          inherit kettle;
          # The built binary runs and reports the version it was stamped with.
          version = pkgs.runCommand "kettle-version-check" { } ''
            ${lib.getExe kettle} version > version.txt
            grep -Fx 'kettle ${kettle.version}' version.txt
            touch $out
          '';
        }
      );
    };
}
