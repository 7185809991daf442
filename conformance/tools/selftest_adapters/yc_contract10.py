"""Self-test adapter: the native fixtures declared as contract 1.0 (no
'runtimes' key), which claims asyncio and uvloop only."""
from yp_native import *  # noqa: F401,F403
__yp_conformance__ = {"contract": "1.0", "implementation": "contract10"}
