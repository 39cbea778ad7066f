# A work-alike of nixpkgs' buildGoModule for what nix/kettle.nix uses, with
# the same argument names and the same two derivations:
#
#   goModules  "${pname}-${version}-go-modules", fixed-output, recursive,
#              outputHash = vendorHash: `go mod vendor`'s output. nixpkgs
#              downloads it; here it cannot be downloaded, so its content is
#              added to the store beforehand under that name
#              (nix-store --add-fixed --recursive sha256 DIR, as the tests do),
#              and Nix, finding the output valid, never runs its builder.
#   the package  built offline with -mod=vendor from goModules.
{
  lib,
  system,
  busybox,
  go,
}:

{
  pname,
  version,
  src,
  vendorHash,
  subPackages ? [ "." ],
  ldflags ? [ ],
  tags ? [ ],
  CGO_ENABLED ? go.CGO_ENABLED,
  env ? { },
  doCheck ? true, # accepted; the stand-in runs no tests
  meta ? { },
  passthru ? { },
}:

let
  name = "${pname}-${version}";
  cgo = toString (env.CGO_ENABLED or CGO_ENABLED);
  sh = "${busybox}/bin/sh";

  goModules = derivation {
    name = "${name}-go-modules";
    inherit system;
    builder = sh;
    args = [
      "-c"
      ''
        echo "${name}-go-modules cannot be downloaded here. Add \`go mod vendor\`'s output for this" >&2
        echo "source to the store first: nix-store --add-fixed --recursive sha256 DIR/${name}-go-modules" >&2
        exit 1
      ''
    ];
    outputHashMode = "recursive";
    outputHashAlgo = "sha256";
    outputHash = vendorHash;
  };

  goFlags = [
    "-ldflags=${lib.concatStringsSep " " ldflags}"
  ] ++ lib.optional (tags != [ ]) "-tags=${lib.concatStringsSep "," tags}";

  drv = derivation (
    removeAttrs env [ "CGO_ENABLED" ]
    // {
      inherit name system src;
      builder = sh;
      PATH = "${busybox}/bin";
      args = [
        "-eu"
        "-c"
        ''
          export HOME=$TMPDIR GOCACHE=$TMPDIR/go-cache GOPATH=$TMPDIR/go GOBIN=$out/bin
          export GOROOT=${go.GOROOT} GOTOOLCHAIN=local GOPROXY=off GOFLAGS="-mod=vendor -trimpath"
          export CGO_ENABLED=${cgo}
          cp -R $src $TMPDIR/src
          chmod -R u+w $TMPDIR/src
          cd $TMPDIR/src
          rm -rf vendor
          cp -R ${goModules} vendor
          mkdir -p $out/bin
          ${go}/bin/go install ${lib.escapeShellArgs goFlags} ${
            lib.escapeShellArgs (map (p: "./" + lib.removePrefix "./" p) subPackages)
          }
        ''
      ];
    }
  );
in
assert lib.assertMsg (cgo == "0") "stand-in buildGoModule: it has no C toolchain; set CGO_ENABLED = 0";
drv
// passthru
// {
  inherit
    pname
    version
    src
    vendorHash
    goModules
    meta
    ;
}
