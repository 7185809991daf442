"""Self-test adapter: declares the contract but lacks fixtures."""
__yp_conformance__ = {"contract": "1.0", "cannot": {"sleep": "not written yet"}}


def cancellable():
    raise NotImplementedError
