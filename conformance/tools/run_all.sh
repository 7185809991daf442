#!/usr/bin/env bash
# run_all.sh [BUILD_DIR] [yp-conform options...]
# The per-clause report for all three shipped implementations (yieldpoint,
# native, cython), each against its expectations file; JSON/JUnit/TAP in
# BUILD_DIR/conformance/reports/.  Exit 0 iff all three match.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/../build/default}
shift || true
exe=$build/conformance/yp-conform
out=$build/conformance/reports
mkdir -p "$out"
rc=0
run() {  # name module path
  echo "=================== $1 ==================="
  "$exe" --impl "$2" --path "$3" --json "$out/$1.json" \
         --junit "$out/$1.xml" --tap "$out/$1.tap" "${@:4}" || rc=1
}
run yieldpoint yieldpoint "$build/python" "$@"
run native yp_native "$here/adapters/native" "$@"
run cython yp_cython "$build/conformance/adapters/cython" "$@"
exit $rc
