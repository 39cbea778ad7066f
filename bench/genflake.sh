#!/usr/bin/env bash
# genflake.sh N DIR — write an offline flake whose default package has a
# derivation closure of N leaf derivations (builtin builders, cheap to build),
# N/100 busybox "group" derivations and one root: N + N/100 + 2 in all.
# Used by the closure-walk test and by bench/compare.sh.
set -euo pipefail
n=${1:?usage: genflake.sh N DIR}
dir=${2:?usage: genflake.sh N DIR}
[ $((n % 100)) -eq 0 ] || { echo "genflake.sh: N must be a multiple of 100" >&2; exit 2; }
mkdir -p "$dir"
cat > "$dir/flake.nix" <<NIX
{
  description = "Kettle test flake: a closure of $n leaf derivations";
  inputs.busybox = { url = "path:/bin/busybox"; flake = false; };
  outputs = { self, busybox }: let
    system = "x86_64-linux";
    n = $n;
    bb = derivation {
      name = "busybox-bin"; inherit system;
      builder = "builtin:unpack-channel"; channelName = "bin";
      src = builtins.toFile "busybox.mtree" ''
        #mtree
        ./bin type=dir mode=0555
        ./bin/busybox type=link link=\${busybox}
      '';
    };
    leaf = i: derivation {
      name = "leaf-\${toString i}"; inherit system;
      builder = "builtin:unpack-channel"; channelName = "d";
      src = builtins.toFile "leaf-\${toString i}.mtree" ''
        #mtree
        ./d type=dir mode=0555
        ./d/n\${toString i} type=link link=\${toString i}
      '';
    };
    group = g: derivation {
      name = "group-\${toString g}"; inherit system;
      builder = "\${bb}/bin/busybox";
      args = [ "sh" "-c" "echo \$deps > \$out" ];
      deps = builtins.genList (j: leaf (g * 100 + j)) 100;
    };
  in {
    packages.\${system}.default = derivation {
      name = "closure-$n"; inherit system;
      builder = "\${bb}/bin/busybox";
      args = [ "sh" "-c" "echo \$deps > \$out" ];
      deps = builtins.genList group (n / 100);
    };
  };
}
NIX
nix flake lock "path:$dir"
