# cmake -DYP_SOURCE_DIR=<top> [-DYP_FAULT_PLANTED=<file>] -P cmake/YpFaultSites.cmake
#
# The ctest faults.sites: YP_FAULT(NAME) (engine/src/core/internal.h) reads
# as 0 for any name that no variant defines, so a misspelt site would
# compile into a variant that is not faulty at all.  Check both ways:
# every site names a fault of YpFaults.cmake, and every fault there has at
# least one site in the engine.  YP_FAULT_PLANTED adds one more file to
# scan (the ctest faults.sites.bites plants a misspelt site with it).
cmake_minimum_required(VERSION 3.25)
include("${YP_SOURCE_DIR}/cmake/YpFaults.cmake")
set(_known ${YP_PROTOCOL_FAULTS} ${YP_GATE_FAULTS})

file(GLOB_RECURSE _sources
     "${YP_SOURCE_DIR}/engine/*.c" "${YP_SOURCE_DIR}/engine/*.h")
if(YP_FAULT_PLANTED)
  list(APPEND _sources "${YP_FAULT_PLANTED}")
endif()
set(_used "")
set(_errors 0)
foreach(_src IN LISTS _sources)
  file(STRINGS "${_src}" _lines REGEX "YP_FAULT\\([A-Z0-9_]+\\)")
  foreach(_line IN LISTS _lines)
    string(REGEX MATCHALL "YP_FAULT\\([A-Z0-9_]+\\)" _sites "${_line}")
    foreach(_site IN LISTS _sites)
      string(REGEX REPLACE "YP_FAULT\\(([A-Z0-9_]+)\\)" "\\1" _name "${_site}")
      if(_name STREQUAL "NAME")
        continue()   # the macro's definition and its comment
      endif()
      if(NOT _name IN_LIST _known)
        file(RELATIVE_PATH _rel "${YP_SOURCE_DIR}" "${_src}")
        message(NOTICE "${_rel}: YP_FAULT(${_name}) names no fault of "
                       "cmake/YpFaults.cmake")
        math(EXPR _errors "${_errors} + 1")
      endif()
      list(APPEND _used "${_name}")
    endforeach()
  endforeach()
endforeach()
foreach(_name IN LISTS _known)
  if(NOT _name IN_LIST _used)
    message(NOTICE "fault ${_name} (cmake/YpFaults.cmake) has no "
                   "YP_FAULT(${_name}) site in engine/")
    math(EXPR _errors "${_errors} + 1")
  endif()
endforeach()
list(REMOVE_DUPLICATES _used)
list(LENGTH _used _n)
if(NOT _errors EQUAL 0)
  message(FATAL_ERROR "faults.sites: ${_errors} problem(s), see above")
endif()
message(STATUS "faults.sites: ${_n} faults, each with a site")
