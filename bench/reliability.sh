#!/usr/bin/env bash
# reliability.sh — the figures of the README's reliability section, in one run:
#
#   tamper   mutations of signed bundles and evidence tried, and how many were accepted
#   bad      bad-input cases run by the table tests (subtests of Test*Bad*)
#   kills    SIGINT/SIGTERM sent to `kettle build` at random moments; what was left
#   fuzz     executions per fuzz target in FUZZTIME each (make fuzz)
#
# Needs: nix, busybox-static, bin/kettle (make kettle). KILLS (default 60) and
# FUZZTIME (default 5s) set the effort.
set -euo pipefail
cd "$(dirname "$0")/.."
KILLS=${KILLS:-60}
FUZZTIME=${FUZZTIME:-5s}
KETTLE=${KETTLE:-$PWD/bin/kettle}
export NIX_USER_CONF_FILES=${NIX_USER_CONF_FILES:-$PWD/nix/offline.conf}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== tamper: mutations tried, none may be accepted"
go test -count=1 -v -run 'Tamper|TestAzureFixtureTamper|TestForeign' ./attest/... ./tests/ >"$work/tamper.log" 2>&1 || { tail -40 "$work/tamper.log"; exit 1; }
grep -Eo 'tamper matrix: [0-9]+ mutations[^"]*' "$work/tamper.log" | sed 's/^/   attest: /' || true
grep -Eo '[0-9]+ (changes to the Azure evidence|one-byte changes)[^"]*' "$work/tamper.log" | sed 's/^/   az-snp: /' || true
e2e=$(grep -Ec '^    tamper_test.go:[0-9]+: .* → ' "$work/tamper.log" || true)
echo "   bundles (tests/tamper_test.go): $e2e mutations, each refused at its step"

echo "== bad input: table cases run"
go test -count=1 -v -run 'Bad|Refuse|Unbounded|Fifo|FIFO' ./... >"$work/bad.log" 2>&1 || { tail -40 "$work/bad.log"; exit 1; }
echo "   $(grep -Ec '^ +--- PASS: .*/' "$work/bad.log") bad-input subtests passed, $(grep -Ec '^ +--- FAIL' "$work/bad.log" || true) failed"

echo "== kills: $KILLS signals to kettle build at random moments"
cp -r examples/hello "$work/hello"
"$KETTLE" build -q --attest sim-snp -o "$work/warm.bundle" "path:$work/hello" >/dev/null
# One build's wall time bounds the random delay.
s=$(date +%s%N); "$KETTLE" build -q --attest sim-snp --artifacts xz -o "$work/timed.bundle" "path:$work/hello" >/dev/null; e=$(date +%s%N)
span_ms=$(( (e - s) / 1000000 + 50 ))
staging=0 complete=0 none=0 exit0=0 partial=0
for i in $(seq "$KILLS"); do
  out="$work/k$i/bundle"; mkdir -p "$work/k$i"
  sig=TERM; [ $((i % 2)) = 0 ] && sig=INT
  "$KETTLE" build -q --attest sim-snp --artifacts xz -o "$out" "path:$work/hello" >/dev/null 2>&1 &
  pid=$!
  sleep "$(awk -v r="$RANDOM" -v s="$span_ms" 'BEGIN { printf "%.3f", (r % s) / 1000 }')"
  kill -s "$sig" "$pid" 2>/dev/null || true
  if wait "$pid"; then code=0; else code=$?; fi
  left=$(find "$work/k$i" -mindepth 1 -maxdepth 1 -name '.*' | wc -l)
  staging=$((staging + left))
  if [ -e "$out" ]; then
    complete=$((complete + 1))
    [ "$code" = 0 ] && exit0=$((exit0 + 1))
    "$KETTLE" verify --allow-simulated "$out" >/dev/null 2>&1 || partial=$((partial + 1))
  else
    none=$((none + 1))
  fi
done
echo "   $KILLS kills: $none left nothing, $complete finished first (exit 0: $exit0; not verifying: $partial), staging directories left: $staging"

echo "== fuzz: executions per target in $FUZZTIME"
make -s fuzz FUZZTIME="$FUZZTIME" >"$work/fuzz.log" 2>&1 || { tail -40 "$work/fuzz.log"; exit 1; }
awk '/^fuzz / { target = $2 " " $3 } /execs: [0-9]+/ { match($0, /execs: [0-9]+/); n = substr($0, RSTART + 7, RLENGTH - 7); last[target] = n }
     END { for (t in last) printf "   %-60s %s execs\n", t, last[t] }' "$work/fuzz.log" | sort
