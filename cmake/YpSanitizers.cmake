# Checked builds: sanitizers, coverage, and a launcher for the tests.
#
# YP_SANITIZE=address;undefined  -> ASan + UBSan (+ LSan, part of ASan)
# YP_SANITIZE=thread             -> TSan
# Applied to every target in the tree, so the engine, the fixtures module,
# the tests and the runner agree on one runtime.  UBSan is made fatal so a
# report fails the test that triggered it instead of scrolling by.
#
# Pick one compiler per build tree: gcc's libasan.so.8 and clang's
# libclang_rt.asan must never meet in one process (the asan preset is gcc,
# the fuzz and tsan presets are clang).
if(YP_SANITIZE)
  set(_yp_san "")
  foreach(s IN LISTS YP_SANITIZE)
    list(APPEND _yp_san "-fsanitize=${s}")
  endforeach()
  list(JOIN _yp_san " " _yp_san_flags)
  set(_yp_extra "-fno-omit-frame-pointer -fno-sanitize-recover=all")
  string(APPEND CMAKE_C_FLAGS " ${_yp_san_flags} ${_yp_extra}")
  string(APPEND CMAKE_CXX_FLAGS " ${_yp_san_flags} ${_yp_extra}")
  string(APPEND CMAKE_EXE_LINKER_FLAGS " ${_yp_san_flags}")
  string(APPEND CMAKE_SHARED_LINKER_FLAGS " ${_yp_san_flags}")
  string(APPEND CMAKE_MODULE_LINKER_FLAGS " ${_yp_san_flags}")
  message(STATUS "yieldpoint: sanitizers ${_yp_san_flags}")
endif()
if(YP_COVERAGE)
  string(APPEND CMAKE_C_FLAGS " -fprofile-instr-generate -fcoverage-mapping")
  string(APPEND CMAKE_EXE_LINKER_FLAGS " -fprofile-instr-generate")
  string(APPEND CMAKE_SHARED_LINKER_FLAGS " -fprofile-instr-generate")
  string(APPEND CMAKE_MODULE_LINKER_FLAGS " -fprofile-instr-generate")
endif()

# YP_TEST_LAUNCHER: a command put in front of every test that runs a
# built executable (the Criterion binaries, yp-conform), e.g. ci/valgrind.
# CMake 3.25-3.28 apply CROSSCOMPILING_EMULATOR to add_test() commands
# naming an executable target even when not cross-compiling; 3.29 renamed
# the idea CMAKE_TEST_LAUNCHER (and policy CMP0158, OLD under our
# cmake_minimum_required, keeps the emulator working).  Setting both keeps
# the tests' own CMakeLists free of any checker.  Tests that run a script
# (python.module, examples.*) are not wrapped.
set(YP_TEST_LAUNCHER "" CACHE STRING
    "Command (;-list) that runs every test executable, e.g. ci/valgrind")
if(YP_TEST_LAUNCHER)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${YP_TEST_LAUNCHER}")
  set(CMAKE_TEST_LAUNCHER "${YP_TEST_LAUNCHER}")
  message(STATUS "yieldpoint: tests run under ${YP_TEST_LAUNCHER}")
endif()

# YP_GATE names the gate a build tree serves (asan, valgrind, tsan,
# refleak); tests/gates/ then registers the proof that the gate bites.
set(YP_GATE "" CACHE STRING "Gate this build serves: asan, valgrind, tsan, refleak")
set_property(CACHE YP_GATE PROPERTY STRINGS "" asan valgrind tsan refleak)
# The proofs live in tests/gates/ and need every other target defined
# first, so they are included at the end of the top-level CMakeLists
# (deferred calls may not add subdirectories, so the file is written to
# work included as well as via add_subdirectory(gates) in tests/).
if(YP_GATE AND YP_BUILD_TESTS)
  cmake_language(DEFER DIRECTORY "${PROJECT_SOURCE_DIR}" CALL
    include "${PROJECT_SOURCE_DIR}/tests/gates/CMakeLists.txt")
endif()

# The debug interpreter's headers (YP_PYTHON=/usr/bin/python3.11d).
# Debian's /usr/include/python3.11d/ holds symlinks into python3.11/ plus
# its own pyconfig.h.  Included as -isystem, gcc resolves Python.h's
# #include "pyconfig.h" next to the symlink's target, i.e. the *release*
# pyconfig.h: no Py_DEBUG, so Py_INCREF in our code never counts in
# _Py_RefTotal and the refleak numbers are nonsense.  As a plain -I the
# right pyconfig.h is found.  (Belongs next to find_package in YpPython.)
if(YP_PYTHON MATCHES "d$")
  set_property(TARGET Python3::Python Python3::Module PROPERTY SYSTEM OFF)
endif()
