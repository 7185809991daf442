#!/usr/bin/env bash
# run_all.sh [BUILD_DIR] [--impl MODULE [--path DIR]]... [yp-conform options...]
#
# The one command for the whole picture: the per-clause report of every
# shipped implementation (yieldpoint, native -- CPython's own coroutines,
# the baseline -- and cython), each against its expectations file, under
# every runtime; then the matrix page combining them.  Each `--impl MODULE
# [--path DIR]` adds your own adapter as one more implementation (its
# expectations: --expectations applies to all, so leave it to the default
# lookup).  Other options go to every yp-conform run (e.g. --loop asyncio,
# --filter borrow).
#
# Writes, in BUILD_DIR/conformance/reports/:
#   <impl>.json .xml .tap   each implementation's report (JSON, JUnit, TAP)
#   matrix.html matrix.md   the matrix page and its Markdown twin
# Exit 0 iff every implementation matches its expectations.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$here/../build/default
if [[ $# -gt 0 && $1 != -* ]]; then
  build=$1
  shift
fi
exe=$build/conformance/yp-conform
out=$build/conformance/reports
py=${YP_PYTHON:-/usr/bin/python3.11}
mkdir -p "$out"

impls=(
  "yieldpoint yieldpoint $build/python"
  "native yp_native $here/adapters/native"
  "cython yp_cython $build/conformance/adapters/cython"
)
pass=()
while (($#)); do
  case $1 in
    --impl)
      module=$2 path=.
      shift 2
      if [[ ${1:-} == --path ]]; then path=$2; shift 2; fi
      impls+=("$module $module $(cd "$path" && pwd)")
      ;;
    *) pass+=("$1"); shift ;;
  esac
done

rc=0
reports=()
for spec in "${impls[@]}"; do
  read -r name module path <<<"$spec"
  echo "=================== $name ==================="
  rm -f "$out/$name.json"
  "$exe" --impl "$module" --path "$path" --json "$out/$name.json" \
         --junit "$out/$name.xml" --tap "$out/$name.tap" "${pass[@]}"
  r=$?
  ((r == 0)) || rc=1
  ((r <= 1)) && [[ -f $out/$name.json ]] && reports+=("$out/$name.json")
done
(cd "$here" && "$py" -m results matrix "${reports[@]}" \
  --html "$out/matrix.html" --md "$out/matrix.md") || rc=1
echo "matrix: $out/matrix.html ($out/matrix.md), ${#reports[@]} report(s)"
exit $rc
