"""Self-test adapter: the native fixtures, with Counter.value() raising an
error whose message is 1 MiB long, ending in a marker: the failure message
must arrive in the report whole (nothing between the worker and the report
truncates)."""
import yp_native
from yp_native import *  # noqa: F401,F403

__yp_conformance__ = dict(yp_native.__yp_conformance__,
                          implementation="big-message")

BODY = "".join(f"{i:07d}\n" for i in range(1 << 17))    # 1 MiB, numbered
MARKER = "END-OF-THE-1MiB-MESSAGE"


class Counter(yp_native.Counter):
    __slots__ = ()

    def value(self):
        raise RuntimeError(BODY + MARKER)
