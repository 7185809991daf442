#!/usr/bin/env bash
# tests/ci/test_lib.sh -- ci/lib.sh's argument handling for the gate
# scripts (ctest ci.lib): yp-conform's file and directory options given to
# `ci/gate-* --impl` are relative to the caller's directory, not to the
# repository root the scripts cd to.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
caller=$(mktemp -d)
trap 'rm -rf "$caller"' EXIT
cd "$caller"
source "$root/ci/lib.sh"
cd "$YP_ROOT"            # what every gate script does next
fails=0
check() {   # check WHAT EXPECTED ACTUAL
  if [[ $2 == "$3" ]]; then echo "ok   $1"
  else echo "FAIL $1"; echo "     expected: $2"; echo "     got:      $3"; fails=$((fails + 1)); fi
}
yp_conform_args --impl mine --path . --path sub/dir --path /abs \
  --expectations exp.json --json r.json --junit=r.xml --tap /t.tap \
  --write-expectations=w.json --cases ../cases --filter ./not-a-path -j 2
check "relative paths resolve against the caller's directory" \
  "--impl mine --path $caller/. --path $caller/sub/dir --path /abs --expectations $caller/exp.json --json $caller/r.json --junit=$caller/r.xml --tap /t.tap --write-expectations=$caller/w.json --cases $caller/../cases --filter ./not-a-path -j 2" \
  "${YP_IMPL_ARGS[*]}"
yp_conform_args --full
check "--full" "1 0" "$YP_FULL ${#YP_IMPL_ARGS[@]}"
yp_conform_args --impl m --expectations none --expectations=none
check "--expectations none stays none" "--impl m --expectations none --expectations=none" \
  "${YP_IMPL_ARGS[*]}"
((fails == 0)) && echo "all ok"
exit $((fails != 0))
