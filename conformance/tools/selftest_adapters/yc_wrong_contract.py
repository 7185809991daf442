"""Self-test adapter: a contract major this suite does not implement."""
from yp_native import *  # noqa: F401,F403
__yp_conformance__ = {"contract": "2.0"}
