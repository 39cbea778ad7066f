#!/usr/bin/env bash
# compare.sh — Kettle against Nix's own tools, as ratios, in one run.
#
#   walk   kettle closure DRV        vs  nix show-derivation -r DRV  (3000-derivation closure)
#   hash   kettle hash $GOROOT       vs  nix hash path $GOROOT, and its throughput of
#          file data against `openssl speed -evp sha256` on one core
#   build  kettle build (warm store) vs  nix build --no-link (warm store): a no-op for nix
#   cold   kettle build vs nix build of go-hello when the Go program must really be
#          compiled (each run gets a fresh salt, so neither finds its output built)
#   v2     kettle build and kettle build --deep-hash vs nix build --no-link (warm store)
#          for the 3000-derivation closure and go-hello; manifest size; verify time
#
# Each command runs RUNS times after one warm-up run; the medians of wall
# time are compared. Needs: nix, openssl, bin/kettle (make kettle), busybox-static.
#
#   bench/compare.sh [walk|hash|build|cold|v2]...   (default: all five)
set -euo pipefail
sections=" ${*:-walk hash build cold v2} "
want() { [[ $sections == *" $1 "* ]]; }
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
KETTLE=${KETTLE:-$PWD/bin/kettle}
export NIX_USER_CONF_FILES=${NIX_USER_CONF_FILES:-$PWD/nix/offline.conf}
goroot=$(go env GOROOT)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# median_secs CMD... : run CMD once to warm up, then RUNS times; print the median wall time.
median_secs() {
  "$@" >/dev/null 2>&1
  local ts=()
  for _ in $(seq "$RUNS"); do
    local s e
    s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N)
    ts+=("$(( e - s ))")
  done
  printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.4f\n", a[int((NR+1)/2)]/1e9}'
}

row() { # name kettle_secs nix_secs target
  awk -v n="$1" -v k="$2" -v x="$3" -v t="$4" 'BEGIN {
    printf "%-6s kettle %8.3fs   nix %8.3fs   kettle/nix time %.3f   %s\n", n, k, x, k/x, t }'
}

show_drv() { # Nix < 2.15 has show-derivation, newer has derivation show
  if nix derivation show --help >/dev/null 2>&1; then nix derivation show -r "$1"; else nix show-derivation -r "$1"; fi
}

if want walk; then
echo "== closure walk: 3000-derivation closure"
bench/genflake.sh 3000 "$work/closure" >/dev/null 2>&1
drv=$(nix path-info --derivation "path:$work/closure" 2>/dev/null)
n=$(nix-store -qR "$drv" | grep -c '\.drv$')
echo "   $drv ($n derivations)"
k=$(median_secs "$KETTLE" closure "$drv")
x=$(median_secs show_drv "$drv")
row walk "$k" "$x" "(target ≤ 0.5)"
fi

if want hash; then
echo "== NAR hashing: $goroot"
# The limit is one SHA-256 stream: compare with openssl's SHA-256 on one core
# (openssl speed runs one process), measured here in the same run, and count
# the bytes of file data, which is what both hash.
data=$(find "$goroot" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
ossl=$(openssl speed -evp sha256 -bytes 16384 -seconds 3 2>/dev/null | awk '$1 == "sha256" {sub(/k$/, "", $2); print $2 * 1000}')
[ "$("$KETTLE" hash "$goroot")" = "$(nix hash path "$goroot")" ] || { echo "hash mismatch!" >&2; exit 1; }
k=$(median_secs "$KETTLE" hash "$goroot")
x=$(median_secs nix hash path "$goroot")
row hash "$k" "$x" "(target ≤ 0.6)"
awk -v d="$data" -v o="$ossl" -v k="$k" -v x="$x" 'BEGIN {
  printf "   openssl speed -evp sha256 -bytes 16384, one core: %.0f MB/s\n", o/1e6
  printf "   file data %.1f MB: kettle %.0f MB/s, nix %.0f MB/s\n", d/1e6, d/k/1e6, d/x/1e6
  printf "   kettle/openssl throughput %.3f   (target ≥ 0.85)\n", d/k/o }'
fi

if want build || want cold || want v2; then # go-hello locked to this GOROOT, for both
  cp -r examples/go-hello "$work/go-hello"
  nix flake lock --override-input go "path:$goroot" "path:$work/go-hello" >/dev/null 2>&1
fi

if want build; then
echo "== build on a warm store: examples/go-hello"
nix build --no-link "path:$work/go-hello" >/dev/null 2>&1
kbuild() { rm -rf "$work/b"; "$KETTLE" build -q --attest sim-snp --artifacts none -o "$work/b" "path:$work/go-hello"; }
k=$(median_secs kbuild)
x=$(median_secs nix build --no-link "path:$work/go-hello")
row build "$k" "$x" "(target ≤ 1.05)"
fi

if want cold; then
echo "== build that compiles: examples/go-hello with a fresh salt per run (COLD_RUNS=${COLD_RUNS:=3})"
salted() { # salted DIR SALT: a copy of the locked go-hello whose derivation differs by SALT
  rm -rf "$1"; cp -r "$work/go-hello" "$1"
  sed -i "s|name = \"kettle-go-hello\";|name = \"kettle-go-hello\"; salt = \"$2\";|" "$1/flake.nix"
}
kt=(); nt=()
for i in $(seq "$COLD_RUNS"); do
  salt=$(date +%s%N)
  salted "$work/ck" "k$salt"; salted "$work/cn" "n$salt"; rm -rf "$work/cb"
  s=$(date +%s%N); "$KETTLE" build -q --attest sim-snp --artifacts none -o "$work/cb" "path:$work/ck" >/dev/null 2>&1; e=$(date +%s%N); kt+=("$((e - s))")
  s=$(date +%s%N); nix build --no-link "path:$work/cn" >/dev/null 2>&1; e=$(date +%s%N); nt+=("$((e - s))")
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "%.4f\n", a[int((NR+1)/2)]/1e9}'; }
row cold "$(med "${kt[@]}")" "$(med "${nt[@]}")" "(target ≤ 1.05)"
fi

if want v2; then
echo "== manifest version 2 on a warm store: output leaves from the Nix database, and --deep-hash"
[ -e "$work/closure/flake.nix" ] || bench/genflake.sh 3000 "$work/closure" >/dev/null 2>&1
for flake in closure go-hello; do
  ref="path:$work/$flake"
  nix build --no-link "$ref" >/dev/null 2>&1
  kv2() { rm -rf "$work/v2"; "$KETTLE" build -q --attest sim-snp --artifacts none -o "$work/v2" "$ref"; }
  kdeep() { rm -rf "$work/v2"; "$KETTLE" build -q --deep-hash --attest sim-snp --artifacts none -o "$work/v2" "$ref"; }
  x=$(median_secs nix build --no-link "$ref")
  k=$(median_secs kv2)
  d=$(median_secs kdeep)
  kdeep >/dev/null 2>&1
  v=$(median_secs "$KETTLE" verify --allow-simulated --store "$work/v2")
  leaves=$("$KETTLE" manifest show "$work/v2" | tail -1 | awk '{print $4}')
  outs=$("$KETTLE" manifest show --kind output "$work/v2" | tail -1 | awk '{print $2}')
  awk -v f="$flake" -v x="$x" -v k="$k" -v d="$d" -v v="$v" -v l="$leaves" -v o="$outs" -v sz="$(stat -c %s "$work/v2/manifest.json")" 'BEGIN {
    printf "%-9s nix build %7.3fs   kettle %7.3fs (%.2fx)   kettle --deep-hash %7.3fs (%.2fx; deep/plain %.2fx)\n", f, x, k, k/x, d, d/x, d/k
    printf "          manifest %d leaves (%d output), %.0f KB; kettle verify --store %.0f ms (target < 50 ms)\n", l, o, sz/1024, v*1000 }'
done
fi
