"""Self-test adapter: the native fixtures declared as contract 1.3, without
the race fixture that 1.4 added (an earlier adapter need not have it)."""
from yp_native import *  # noqa: F401,F403
del race  # noqa: F821
__yp_conformance__ = {"contract": "1.3", "implementation": "contract13"}
