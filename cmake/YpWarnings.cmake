# Warnings for the project's own C code (not for generated or third-party).
add_library(yp_warnings INTERFACE)
target_compile_options(yp_warnings INTERFACE
  -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
  -Wno-unused-parameter -Wno-missing-field-initializers)
