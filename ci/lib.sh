# ci/lib.sh -- shared helpers for the ci/ scripts (sourced, not run).
# Per-step timing and a closing summary table, so every gate says what it
# ran, whether it passed and how long it took.

YP_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Where the script was called from (the scripts then cd to YP_ROOT): the
# user's relative paths are relative to it.
YP_CALLER_DIR=${YP_CALLER_DIR:-$PWD}
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

# yp_build PRESET: configure and build one preset (build/PRESET).
yp_build() {
  cmake --preset "$1" >/dev/null && cmake --build --preset "$1" -j "$YP_JOBS"
}

# yp_preset_env PRESET: export the environment of test preset PRESET, so a
# gate script running a binary by hand (yp-conform --impl ...) uses exactly
# what ctest --preset PRESET would.  CMakePresets.json stays the only place
# the sanitizer options are written down.
yp_preset_env() {
  local exports
  exports=$(/usr/bin/python3.11 - "$1" "$YP_ROOT" <<'PY'
import json, shlex, sys
name, root = sys.argv[1], sys.argv[2]
tests = {p["name"]: p for p in
         json.load(open(f"{root}/CMakePresets.json"))["testPresets"]}
env = {}
def collect(p):
    parents = p.get("inherits", [])
    for parent in [parents] if isinstance(parents, str) else parents:
        collect(tests[parent])
    env.update(p.get("environment", {}))
collect(tests[name])
for k, v in env.items():
    print(f"export {k}={shlex.quote(v.replace('${sourceDir}', root))}")
PY
) || return 1
  eval "$exports"
}

# yp_ctest_checked PRESET [--proofs] [CTEST ARGS...]: ctest --preset PRESET
# (build/<PRESET up to the first '-'>, e.g. pydebug-full -> build/pydebug),
# then refuse to call it a pass unless something ran: at least one ctest
# test, no Criterion binary that ran zero tests, and (--proofs) at least
# one gate.* proof test.  Prints what ran.
yp_ctest_checked() {
  local preset=$1 proofs=0 rc=0
  shift
  if [[ ${1:-} == --proofs ]]; then proofs=1; shift; fi
  local dir="$YP_ROOT/build/${preset%%-*}"
  local junit="$dir/Testing/yp-junit.xml"
  rm -f "$junit"
  ctest --preset "$preset" -j "$YP_JOBS" --output-junit "$junit" "$@" || rc=$?
  /usr/bin/python3.11 - "$junit" "$dir/Testing/Temporary/LastTest.log" "$proofs" <<'PY' || { ((rc)) || rc=1; }
import re, sys
import xml.etree.ElementTree as ET
junit, log, proofs = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
try:
    cases = ET.parse(junit).getroot().iter("testcase")
except (OSError, ET.ParseError) as e:
    sys.exit(f"ran: nothing ({e})")
ran, skipped = [], []
for c in cases:
    (skipped if c.get("status") in ("notrun", "disabled") else ran).append(c.get("name"))
text = open(log, errors="replace").read() if ran else ""
criterion = [int(n) for n in re.findall(r"Synthesis: Tested: (\d+)", text)]
pytest = sum(int(n) for n in re.findall(r"(\d+) passed", text))
gates = [n for n in ran if n.startswith("gate.") and not n.endswith(".clean")]
print(f"ran: {len(ran)} ctest tests ({', '.join(ran)})"
      + (f"; skipped: {', '.join(skipped)}" if skipped else ""))
print(f"     {sum(criterion)} Criterion tests in {len(criterion)} binaries, "
      f"{pytest} pytest passes, {len(gates)} proofs that the gate bites")
bad = []
if not ran:
    bad.append("no test ran")
if 0 in criterion:
    bad.append("a Criterion binary ran 0 tests (filter matched nothing?)")
if proofs and not gates:
    bad.append("no gate.* proof ran")
if bad:
    sys.exit("NOT A PASS: " + "; ".join(bad))
PY
  return $rc
}

# yp_abs_path PATH: PATH made absolute against the caller's directory.
yp_abs_path() {
  case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$YP_CALLER_DIR/$1" ;;
  esac
}

# yp_conform_args "$@": split gate-script arguments.  Sets YP_FULL=1 for
# --full and YP_IMPL_ARGS to yp-conform arguments (--impl MODULE --path DIR
# ...: everything from --impl on), for the "other implementations" mode.
# The scripts run from the repository root, so the file and directory
# options' relative values are made absolute against the caller's
# directory (`--path .` is the caller's directory, not the root).
yp_conform_args() {
  YP_FULL=0
  YP_IMPL_ARGS=()
  while (($#)); do
    case $1 in
      --full) YP_FULL=1; shift ;;
      --impl)
        local takes_path='--path|--expectations|--json|--junit|--tap|--write-expectations|--cases'
        while (($#)); do
          if [[ $1 =~ ^($takes_path)$ ]] && (($# > 1)); then
            if [[ $1 == --expectations && $2 == none ]]; then
              YP_IMPL_ARGS+=("$1" "$2")
            else
              YP_IMPL_ARGS+=("$1" "$(yp_abs_path "$2")")
            fi
            shift 2
          elif [[ $1 =~ ^($takes_path)=(.*)$ ]]; then
            local opt=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
            if [[ $opt == --expectations && $value == none ]]; then
              YP_IMPL_ARGS+=("$1")
            else
              YP_IMPL_ARGS+=("$opt=$(yp_abs_path "$value")")
            fi
            shift
          else
            YP_IMPL_ARGS+=("$1")
            shift
          fi
        done
        break ;;
      -h|--help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
      *) echo "$(basename "$0"): unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
  done
}
