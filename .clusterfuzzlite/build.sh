#!/bin/bash -eu
# ClusterFuzzLite/OSS-Fuzz entry point: the project's own fuzz/build.sh
# already honours $CC $CFLAGS $CXX $CXXFLAGS $LIB_FUZZING_ENGINE $OUT.
# The Python targets need libpython3.11 and its stdlib at run time; on a
# runner image without them build only the C targets:
#   TARGETS="core waker_threads"
cd "$SRC/yieldpoint"
PYTHON_CONFIG=python3.11-config ./fuzz/build.sh
