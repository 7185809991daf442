# Pin the interpreter.  The first python3 on PATH may be a pyenv shim, which
# FindPython3 happily picks (and which ASan/Valgrind then trace as bash), so
# every build names Debian's interpreter explicitly.  YP_PYTHON selects the
# release (/usr/bin/python3.11) or debug (/usr/bin/python3.11d) build.
set(YP_PYTHON "/usr/bin/python3.11" CACHE FILEPATH "Interpreter to build and embed")
set(Python3_EXECUTABLE "${YP_PYTHON}" CACHE FILEPATH "" FORCE)
set(Python3_FIND_STRATEGY LOCATION)
set(Python3_FIND_VIRTUALENV STANDARD)
if(YP_PYTHON MATCHES "d$")
  set(Python3_FIND_ABI "ON;ANY;ANY")
endif()
find_package(Python3 3.11 EXACT REQUIRED
             COMPONENTS Interpreter Development.Module Development.Embed)
message(STATUS "yieldpoint: Python ${Python3_VERSION} at ${Python3_EXECUTABLE}, "
               "libpython ${Python3_LIBRARIES}, SOABI ${Python3_SOABI}")
