"""Shared by the Python-level fuzz drivers (coroutine, scripts).

implementation() is the module under test. FDP mirrors fuzz_common.h's byte
consumer: choices come from the END of the input, payload bytes from the
front. FuzzFailure is the one exception a driver raises on purpose: the C
harness prints it and aborts, which libFuzzer files as a crash.
"""
import gc
import importlib
import os
import sys
import warnings


def implementation():
    """(module, live): the implementation under test, `yieldpoint` by
    default or any adapter module with the same fixtures
    (conformance/ADAPTER.md) named by YP_FUZZ_MODULE and found through
    YP_FUZZ_MODULE_DIR; and its live-object count, a yieldpoint hook
    (`_live`) that other adapters go without (the weakref and Counter
    checks still apply)."""
    yp = importlib.import_module(os.environ.get("YP_FUZZ_MODULE",
                                                "yieldpoint"))
    return yp, getattr(yp, "_live", lambda: None)


def optional_import(name):
    """`name` imported, or None.  The harness's interpreter is isolated
    (no site): a third-party library such as trio is looked up in the
    interpreter's site directories, appended after everything else so
    that they shadow nothing."""
    try:
        return importlib.import_module(name)
    except ImportError:
        pass
    import site
    for d in site.getsitepackages():
        if d not in sys.path:
            sys.path.append(d)
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


class FuzzFailure(AssertionError):
    pass


def fail(msg):
    raise FuzzFailure(msg)


class FDP:
    __slots__ = ("d", "lo", "hi")

    def __init__(self, data):
        self.d = data
        self.lo = 0
        self.hi = len(data)

    def left(self):
        return self.hi - self.lo

    def int(self, n):
        """An integer in [0, n)."""
        if n <= 1:
            return 0
        span = n - 1
        r = used = 0
        while used < 8 and (span >> (8 * used)) and self.hi > self.lo:
            self.hi -= 1
            r = (r << 8) | self.d[self.hi]
            used += 1
        return r % n

    def pick(self, seq):
        return seq[self.int(len(seq))]

    def bool(self):
        return self.int(2) == 1

    def take(self, n):
        n = min(n, self.hi - self.lo)
        b = self.d[self.lo:self.lo + n]
        self.lo += n
        return b


class Unraisables:
    """Collects sys.unraisablehook calls; any one is a failure unless the
    driver says it was expected."""

    def __init__(self):
        self.seen = []
        sys.unraisablehook = self.hook

    def hook(self, u):
        self.seen.append((u.exc_type, u.exc_value, u.err_msg, u.object))

    def check(self):
        if self.seen:
            s = self.seen[:]
            self.seen.clear()
            fail(f"unraisable exception(s): {s!r}")


def collect(n=1):
    for _ in range(n):
        gc.collect()


def quiet_warnings():
    warnings.simplefilter("ignore")
