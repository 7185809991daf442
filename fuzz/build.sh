#!/usr/bin/env bash
# fuzz/build.sh -- build every fuzz target the OSS-Fuzz way.
#
# Honours $CC $CFLAGS $CXX $CXXFLAGS $LIB_FUZZING_ENGINE $OUT exactly as
# OSS-Fuzz/ClusterFuzzLite set them (objects compiled with $CC $CFLAGS,
# binaries linked with $CXX, "even for pure C").  Outside OSS-Fuzz, the
# defaults give a clang-14 ASan+UBSan libFuzzer build in build/fuzz-out.
#
# Extra knobs:  YP_FAULT=NAME   compile the engine with -DYP_FAULT_NAME
#               TARGETS="core scripts"   build a subset
#               PYTHON_CONFIG   python3.11-config by default
# Outputs in $OUT: <target>, <target>.options, <target>.dict,
# <target>_seed_corpus.zip (files named by sha1), and py/ (the drivers of
# the Python targets and the contract kit they import, found next to the
# binary at run time).
set -euo pipefail
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${CC:=clang-14}" "${CXX:=clang++-14}"
: "${CFLAGS:=-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -fsanitize=fuzzer-no-link}"
: "${CXXFLAGS:=$CFLAGS}"
: "${LIB_FUZZING_ENGINE:=-fsanitize=fuzzer}"
: "${OUT:=$SRC/build/fuzz-out}"
: "${PYTHON_CONFIG:=python3.11-config}"
[ -x /usr/bin/python3.11-config ] && [ "$PYTHON_CONFIG" = python3.11-config ] \
  && PYTHON_CONFIG=/usr/bin/python3.11-config
: "${TARGETS:=$(grep -v '^#' "$SRC/fuzz/targets.txt" | awk 'NF{print $1}')}"

ENG="$SRC/engine"
mkdir -p "$OUT"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/yp-fuzz-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

DEFS=()
[ -n "${YP_FAULT:-}" ] && DEFS+=("-DYP_FAULT_${YP_FAULT}")
INC=(-I"$SRC/fuzz" -I"$ENG/include" -I"$ENG/src/core" -I"$ENG/src/py")
read -r -a PYINC <<<"$($PYTHON_CONFIG --includes)"
read -r -a PYLD <<<"$($PYTHON_CONFIG --ldflags --embed)"
read -r -a CF <<<"$CFLAGS"

compile() {  # compile <out.o> <src> [extra...]
  local o="$1" s="$2"; shift 2
  "$CC" "${CF[@]}" -std=gnu11 "${DEFS[@]}" "${INC[@]}" "$@" -c "$s" -o "$o"
}

core_objs=() py_objs=()
for s in "$ENG"/src/core/*.c; do
  o="$WORK/core_$(basename "$s" .c).o"; compile "$o" "$s"; core_objs+=("$o")
done
need_py=0
for t in $TARGETS; do case $t in coroutine|scripts) need_py=1;; esac; done
if [ $need_py = 1 ]; then
  for s in "$ENG"/src/py/*.c "$ENG"/fixtures/*.c; do
    o="$WORK/py_$(basename "$(dirname "$s")")_$(basename "$s" .c).o"
    compile "$o" "$s" "${PYINC[@]}"; py_objs+=("$o")
  done
fi

for t in $TARGETS; do
  case $t in
    core|waker_threads)
      # core's harness comparisons are not traced (see fuzz/CMakeLists.txt);
      # only where the flags enable SanitizerCoverage, i.e. clang.
      extra=()
      if [ "$t" = core ] && [[ " $CFLAGS " == *"-fsanitize=fuzzer"* ]]; then
        extra=(-fno-sanitize-coverage=trace-cmp)
      fi
      compile "$WORK/$t.o" "$SRC/fuzz/$t.c" "${extra[@]}"
      $CXX $CXXFLAGS "$WORK/$t.o" "${core_objs[@]}" $LIB_FUZZING_ENGINE \
        -lpthread -lm -o "$OUT/$t" ;;
    coroutine|scripts)
      compile "$WORK/$t.o" "$SRC/fuzz/py_target.c" "${PYINC[@]}" \
        "-DYP_FUZZ_DRIVER=\"${t}_driver\"" "-DYP_FUZZ_PY_DIR=\"$SRC/fuzz/py\"" \
        "-DYP_FUZZ_KIT_DIR=\"$SRC/conformance\""
      $CXX $CXXFLAGS "$WORK/$t.o" "${core_objs[@]}" "${py_objs[@]}" \
        $LIB_FUZZING_ENGINE "${PYLD[@]}" -lpthread -lm -o "$OUT/$t" ;;
    *) echo "build.sh: unknown target $t" >&2; exit 2 ;;
  esac
  cp "$SRC/fuzz/$t.options" "$OUT/$t.options"
  cp "$SRC/fuzz/dict/$t.dict" "$OUT/$t.dict"
  # Seed corpus zip with sha1-named members (OSS-Fuzz convention).
  if [ -d "$SRC/fuzz/corpus/$t" ] && [ -n "$(ls -A "$SRC/fuzz/corpus/$t")" ]; then
    z="$WORK/seed_$t"; mkdir -p "$z"
    for f in "$SRC/fuzz/corpus/$t"/*; do
      cp "$f" "$z/$(sha1sum "$f" | cut -d' ' -f1)"
    done
    rm -f "$OUT/${t}_seed_corpus.zip"
    (cd "$z" && zip -q -r "$OUT/${t}_seed_corpus.zip" .) 2>/dev/null || \
      (cd "$z" && /usr/bin/python3.11 -m zipfile -c "$OUT/${t}_seed_corpus.zip" *)
  fi
  echo "build.sh: $OUT/$t"
done
# The drivers and, beside them, the contract kit they import: $OUT stands
# on its own.
mkdir -p "$OUT/py"
(cd "$SRC/fuzz/py" && find . -name '*.py' -exec cp --parents {} "$OUT/py/" \;)
(cd "$SRC/conformance" && find ypkit -name '*.py' -exec cp --parents {} "$OUT/py/" \;)
