"""Self-test adapter: the native fixtures, with a coroutine whose throw()
without a cancel handle raises the thrown exception but never drops the
future.  throw::no_handle checks two clauses: the failure must be
throw.no-handle-drops' alone, throw.no-handle-raises passes (raising
worked)."""
import yp_native
from yp_native import *  # noqa: F401,F403

__yp_conformance__ = dict(yp_native.__yp_conformance__,
                          implementation="throw-keeps")


class _KeepsFuture:
    """yp_native's coroutine, except that throw() re-raises what it was
    given and leaves the future alone (the inner coroutine is never told)."""

    def __init__(self, inner):
        self._inner = inner

    def __await__(self):
        return self

    def __iter__(self):
        return self

    def __next__(self):
        return self._inner.send(None)

    def send(self, value):
        return self._inner.send(value)

    def throw(self, typ, val=None, tb=None):
        raise typ if val is None else val

    def close(self):
        return self._inner.close()


def scripted(*args, **kwargs):
    return _KeepsFuture(yp_native.scripted(*args, **kwargs))
