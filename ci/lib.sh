# ci/lib.sh -- shared helpers for the ci/ scripts (sourced, not run).
# Per-step timing and a closing summary table, so every gate says what it
# ran, whether it passed and how long it took.

YP_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
YP_JOBS=${YP_JOBS:-$(nproc)}
declare -a YP_STEP_NAMES=() YP_STEP_RESULTS=() YP_STEP_SECONDS=()

# yp_step NAME CMD...: run CMD, record pass/fail and wall time; never exits.
yp_step() {
  local name=$1; shift
  local t0=$SECONDS rc=0
  echo
  echo "==> [$name] $*"
  "$@" || rc=$?
  YP_STEP_NAMES+=("$name")
  YP_STEP_SECONDS+=($((SECONDS - t0)))
  if ((rc == 0)); then YP_STEP_RESULTS+=(PASS); else YP_STEP_RESULTS+=("FAIL($rc)"); fi
  return 0
}

# yp_summary: print the table; return non-zero if any step failed.
yp_summary() {
  local failed=0 passed=0 i
  echo
  echo "==> summary"
  printf '  %-34s %-9s %6s\n' step result seconds
  for i in "${!YP_STEP_NAMES[@]}"; do
    printf '  %-34s %-9s %6s\n' "${YP_STEP_NAMES[$i]}" "${YP_STEP_RESULTS[$i]}" \
      "${YP_STEP_SECONDS[$i]}"
    if [[ ${YP_STEP_RESULTS[$i]} == PASS ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  done
  # The plain closing line CI runners understand.
  echo "steps: $passed passed, $failed failed"
  ((failed == 0))
}
