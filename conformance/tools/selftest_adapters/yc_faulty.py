"""Self-test adapter: the native fixtures, with Counter.value() crashing the
process, gil_probe() hanging with the GIL held, and gil_probe.detach
declared impossible (so its case must SKIP)."""
import ctypes

import yp_native
from yp_native import *  # noqa: F401,F403

__yp_conformance__ = dict(yp_native.__yp_conformance__,
                          implementation="faulty",
                          cannot={"gil_probe.detach": "self-test: declared"})


class Counter(yp_native.Counter):
    __slots__ = ()

    def value(self):
        ctypes.string_at(0)          # SIGSEGV


def gil_probe(detach, block_seconds):
    async def body():
        ctypes.PyDLL(None).sleep(1000)    # hangs, GIL held
    return body()
