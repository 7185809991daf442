# cython: language_level=3
# yp_cython -- the native adapter's fixtures compiled by Cython (cython3),
# so that every coroutine is Cython's own C coroutine type: a third,
# independent implementation of the coroutine protocol.  The source is
# shared verbatim with ../native/yp_native.py; only the declaration differs.

include "yp_native.py"

cdef extern from *:
    # Cython's own version, as the generated C file spells it ("0_29_32").
    const char *CYTHON_ABI

__yp_conformance__ = {
    "contract": "1.5",
    "runtimes": ["asyncio", "uvloop", "trio", "anyio-asyncio", "anyio-trio"],
    "implementation": "cython",
    "version": "Cython " + (<bytes>CYTHON_ABI).decode().replace("_", "."),
    "variants": {"borrow_timing": "first_poll", "arg_check": "call"},
    "cannot": {},
}
