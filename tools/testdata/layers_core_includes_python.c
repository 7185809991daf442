/*
 * layers_core_includes_python.c -- a planted layering violation for the
 * ctest layers.bites.include: read as the text of core/timer.c, it pulls
 * Python.h into the Python-free core.  Never compiled.
 */
#include "internal.h"
#include "Python.h"
