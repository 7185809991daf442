#!/usr/bin/env bash
# Build the example exactly as the README says a user would: install the
# engine to a prefix, then build the example as a separate project against
# that prefix, then import and run it.  Used by ctest (examples.countdown).
# Usage: examples/build_and_test.sh <engine-build-dir> <scratch-dir>
set -euo pipefail
engine_build=$1
scratch=$2
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$scratch"
cmake --install "$engine_build" --prefix "$scratch/prefix" >/dev/null
# pkg-config users get the same prefix (the .pc file must not keep the
# configure-time prefix), and its flags compile the example.
pc_dir=$(dirname "$(find "$scratch/prefix" -name yieldpoint.pc)")
incdir=$(PKG_CONFIG_PATH=$pc_dir pkg-config --variable=includedir yieldpoint)
if [[ $(realpath "$incdir") != $(realpath "$scratch/prefix/include") ]]; then
  echo "yieldpoint.pc: includedir $incdir is not under $scratch/prefix" >&2
  exit 1
fi
mkdir -p "$scratch/pc"
# shellcheck disable=SC2046  # word splitting of the flags is intended
cc $(PKG_CONFIG_PATH=$pc_dir pkg-config --cflags yieldpoint) \
  -c "$here/countdown/countdown.c" -o "$scratch/pc/countdown.o"
cmake -S "$here/countdown" -B "$scratch/build" \
  -DCMAKE_PREFIX_PATH="$scratch/prefix" \
  -DPython3_EXECUTABLE=/usr/bin/python3.11 >/dev/null
cmake --build "$scratch/build" >/dev/null
PYTHONPATH="$scratch/build" /usr/bin/python3.11 "$here/countdown/test_countdown.py"
