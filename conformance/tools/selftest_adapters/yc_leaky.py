"""Self-test adapter: the native fixtures, with sleep() losing a malloc'd
block each call (the pointer is dropped).  The ASan and Valgrind gates
with --impl must fail its cases: the worker's leak check after each case
(runner/leakcheck.c) is what catches it, since neither gate checks at exit
(proofs gate.asan.conformance.leaky_adapter and
gate.valgrind.conformance.leaky_adapter)."""
import ctypes

import yp_native
from yp_native import *  # noqa: F401,F403

__yp_conformance__ = dict(yp_native.__yp_conformance__,
                          implementation="leaky")

_libc = ctypes.CDLL(None)
_libc.malloc.restype = ctypes.c_void_p
_libc.malloc.argtypes = [ctypes.c_size_t]


def sleep(*args, **kwargs):
    # The only copy of the pointer is a Python int, freed at once: its
    # 30-bit digits never hold the address whole, so nothing points at the
    # block any more.
    _libc.malloc(4096)
    return yp_native.sleep(*args, **kwargs)
