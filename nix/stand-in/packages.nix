# The stand-in's package set for one system: nixpkgs' names and, for what the
# project uses, nixpkgs' interfaces, made from the locked path inputs of
# flake.nix. Every builder is the static busybox; no derivation downloads.
{
  lib,
  system,
  inputs,
}:

let
  pkgs = {
    inherit lib system;

    # nixpkgs' callPackage without overriding: the function's arguments are
    # taken from this set, then from args.
    callPackage =
      fn: args:
      let
        f = if builtins.isFunction fn then fn else import fn;
      in
      f (builtins.intersectAttrs (builtins.functionArgs f) pkgs // args);

    # bin/busybox and a link per applet, like nixpkgs' busybox. Busybox picks
    # its applet from argv[0], so it must run through files of those names;
    # builtin:unpack-channel unpacks a text (mtree) archive of symlinks without
    # any shell (see examples/hello).
    busybox = derivation {
      name = "busybox";
      inherit system;
      builder = "builtin:unpack-channel";
      channelName = "bin";
      src = builtins.toFile "busybox.mtree" (
        ''
          #mtree
          ./bin type=dir mode=0555
          ./bin/busybox type=link link=${inputs.busybox}
        ''
        + lib.concatMapStrings (a: "./bin/${a} type=link link=busybox\n") applets
      );
    };

    # The Go toolchain, by links into the imported GOROOT (go finds its root
    # from the resolved executable).
    go =
      derivation {
        name = "go-${goVersion}";
        inherit system;
        builder = "builtin:unpack-channel";
        channelName = "bin";
        src = builtins.toFile "go.mtree" ''
          #mtree
          ./bin type=dir mode=0555
          ./bin/go type=link link=${inputs.go}/bin/go
          ./bin/gofmt type=link link=${inputs.go}/bin/gofmt
        '';
      }
      // {
        version = goVersion;
        GOROOT = "${inputs.go}";
        CGO_ENABLED = 0;
      };

    buildGoModule = import ./build-go-module.nix { inherit lib system; inherit (pkgs) busybox go; };

    # nixpkgs' trivial builders, with busybox's applets on PATH instead of
    # stdenv's coreutils: scripts must keep to what both provide.
    runCommand =
      name: env: script:
      derivation (
        env
        // {
          inherit name system;
          builder = "${pkgs.busybox}/bin/sh";
          args = [ "-eu" "-c" script ];
          PATH = "${pkgs.busybox}/bin";
        }
      );

    # A shell environment: buildable (it records its PATH, as nixpkgs' mkShell
    # builds to a placeholder), but `nix develop` needs stdenv's bash and
    # does not work with it.
    mkShell =
      {
        name ? "nix-shell",
        packages ? [ ],
        inputsFrom ? [ ],
        ...
      }@attrs:
      let
        path = lib.makeBinPath (packages ++ [ pkgs.busybox ]);
      in
      derivation (
        removeAttrs attrs [ "packages" "inputsFrom" ]
        // {
          inherit name system;
          builder = "${pkgs.busybox}/bin/sh";
          args = [ "-eu" "-c" "echo ${lib.escapeShellArg path} > $out" ];
          PATH = path;
        }
      );

    # Debian's kernel (linux-image-amd64), laid out as nixpkgs' linux package:
    # $out/bzImage and $out/lib/modules/<modDirVersion>.
    linux =
      sh "linux-${kernelVersion}" ''
        mkdir -p $out/lib/modules
        cp ${inputs.boot}/vmlinuz-${kernelVersion} $out/bzImage
        cp ${inputs.boot}/config-${kernelVersion} $out/config
        cp -R ${inputs.modules}/${kernelVersion} $out/lib/modules/${kernelVersion}
        # build and source point into the host's /usr/src.
        rm -f $out/lib/modules/${kernelVersion}/build $out/lib/modules/${kernelVersion}/source
      ''
      // {
        version = kernelVersion;
        modDirVersion = kernelVersion;
      };

    # Debian's OVMF (ovmf): the single-image OVMF.fd under FV/, where nixpkgs'
    # OVMF.fd output has it. Not the AmdSev build: it has no table for SEV's
    # kernel hashes.
    OVMF =
      let
        drv = sh "OVMF-debian" ''
          mkdir -p $out/FV
          cp ${inputs.ovmf}/OVMF.fd $out/FV/OVMF.fd
        '';
      in
      drv
      // {
        fd = drv;
        mergedFirmware = "${drv}/FV/OVMF.fd";
      };

    # Debian's nix-bin: bin/nix (and its multi-call names), the libraries it
    # links against under lib/, found as ldd finds them (the dynamic loader's
    # --list over the imported library directories), and the loader itself.
    # bin/nix asks for /lib64/ld-linux-x86-64.so.2; without that path, run it
    # as `$out/lib/ld-linux-x86-64.so.2 --library-path $out/lib $out/bin/nix`.
    nix =
      let
        drv = sh "nix" ''
          mkdir -p $out/bin $out/lib
          cp ${inputs.nix-bin} $out/bin/nix
          chmod 0555 $out/bin/nix
          for n in ${lib.concatStringsSep " " nixNames}; do ln -s nix $out/bin/$n; done
          ld=${inputs.system-libs}/ld-linux-x86-64.so.2
          cp -L $ld $out/lib/ld-linux-x86-64.so.2
          $ld --library-path ${inputs.nix-libs}:${inputs.system-libs} --list ${inputs.nix-bin} > libs.txt
          # Lines are "soname => path (address)"; the loader lists itself too.
          while read -r soname arrow path rest; do
            name=$(basename "$soname")
            if [ "$arrow" = "=>" ] && [ "$name" != ld-linux-x86-64.so.2 ]; then
              cp -L "$path" $out/lib/$name
            fi
          done < libs.txt
          if grep -q 'not found' libs.txt; then cat libs.txt >&2; exit 1; fi
        '';
      in
      drv
      // {
        loader = "${drv}/lib/ld-linux-x86-64.so.2";
      };
  };

  sh =
    name: script:
    derivation {
      inherit name system;
      builder = "${pkgs.busybox}/bin/sh";
      args = [ "-eu" "-c" script ];
      PATH = "${pkgs.busybox}/bin";
    };

  goVersion = lib.removePrefix "go" (builtins.head (lib.splitString "\n" (builtins.readFile "${inputs.go}/VERSION")));

  # The newest kernel that has both /boot/vmlinuz-<version> and /lib/modules/<version>.
  kernelVersion =
    let
      modules = builtins.readDir inputs.modules;
      versions = lib.filter (v: modules ? ${v}) (
        map (lib.removePrefix "vmlinuz-") (
          lib.filter (lib.hasPrefix "vmlinuz-") (builtins.attrNames (builtins.readDir inputs.boot))
        )
      );
    in
    if versions == [ ] then
      throw "stand-in: no kernel in /boot with modules in /lib/modules (apt-get install linux-image-amd64)"
    else
      lib.last (lib.sort lib.versionOlder versions);

  nixNames = [
    "nix-build"
    "nix-channel"
    "nix-collect-garbage"
    "nix-copy-closure"
    "nix-daemon"
    "nix-env"
    "nix-hash"
    "nix-instantiate"
    "nix-prefetch-url"
    "nix-shell"
    "nix-store"
  ];

  # The applets scripts here use (Debian's busybox-static has them all).
  applets = [
    "awk" "basename" "cat" "chmod" "cmp" "cp" "cpio" "cut" "date" "diff" "dirname"
    "echo" "env" "expr" "false" "find" "grep" "gunzip" "gzip" "head" "id" "ln" "ls"
    "mkdir" "mktemp" "mv" "od" "printf" "readlink" "realpath" "rm" "rmdir" "sed" "seq"
    "sh" "sha256sum" "sleep" "sort" "stat" "tail" "tar" "tee" "test" "touch" "tr"
    "true" "uname" "uniq" "wc" "xargs" "xz" "zcat"
  ];
in
pkgs
