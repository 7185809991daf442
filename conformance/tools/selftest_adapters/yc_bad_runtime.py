"""Self-test adapter: claims a runtime this suite does not know."""
from yp_native import *  # noqa: F401,F403
__yp_conformance__ = {"contract": "1.1", "runtimes": ["asyncio", "curio"]}
