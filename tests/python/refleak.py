"""refleak -- regrtest -R for pytest: YP_REFLEAK=warmups:runs.

Each test is run warmups+runs extra times (setup, call and teardown of its
function-scoped fixtures, unreported), then once more as usual.  After each
extra run the plugin clears caches, collects, and records the growth of
sys.gettotalrefcount(), sys.getallocatedblocks() and the number of open
fds.  As in CPython's Lib/test/libregrtest/refleak.py, a test leaks if
references or blocks grew on *every* measured run (one-off cache fills such
as [3, 0, 0] are not leaks), or if the fd count changed on any.  The usual
run then fails with the deltas.

Needs the debug interpreter (/usr/bin/python3.11d, the pydebug preset);
elsewhere YP_REFLEAK is an error rather than a silent pass.  Inert without
YP_REFLEAK.  Loaded by conftest.py.
"""
import gc
import os
import sys

import pytest
from _pytest.runner import runtestprotocol

_SPEC = os.environ.get("YP_REFLEAK", "")


def _parse(spec):
    try:
        warmups, runs = (int(x) for x in spec.split(":"))
    except ValueError:
        raise pytest.UsageError(f"YP_REFLEAK={spec!r}: expected warmups:runs, e.g. 2:3")
    if warmups < 0 or runs < 1:
        raise pytest.UsageError(f"YP_REFLEAK={spec!r}: need warmups >= 0, runs >= 1")
    return warmups, runs


def _fd_count():
    return len(os.listdir("/proc/self/fd"))


def _clear_caches():
    # The caches regrtest's dash_R clears that these tests can fill: the
    # type attribute cache, re's pattern cache, the ABC registries'
    # positive/negative caches (isinstance checks against collections.abc).
    import _abc
    import abc
    import collections.abc
    import re
    sys._clear_type_cache()
    re.purge()
    for name in collections.abc.__all__:
        obj = getattr(collections.abc, name)
        if isinstance(obj, abc.ABCMeta):
            _abc._reset_caches(obj)


def _snapshot():
    _clear_caches()
    gc.collect()
    return sys.gettotalrefcount(), sys.getallocatedblocks(), _fd_count()


def _all_positive(deltas):
    return all(d >= 1 for d in deltas)


def pytest_configure(config):
    if not _SPEC:
        return
    _parse(_SPEC)
    if not hasattr(sys, "gettotalrefcount"):
        raise pytest.UsageError(
            "YP_REFLEAK needs a debug interpreter (sys.gettotalrefcount): "
            "run under /usr/bin/python3.11d (pydebug preset)")
    config.addinivalue_line(
        "markers", "no_refleak(reason): do not repeat this test under YP_REFLEAK")


def pytest_report_header(config):
    if _SPEC:
        return f"refleak: YP_REFLEAK={_SPEC} (warmups:runs)"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    if not _SPEC or item.get_closest_marker("no_refleak"):
        return None
    warmups, runs = _parse(_SPEC)
    deltas = []
    before = _snapshot()
    for i in range(warmups + runs):
        # nextitem=<the test's parent>: the test's own (function-scoped)
        # fixtures are torn down after each run, its module's and the
        # session's are kept, for these runs and the real one below.
        reports = runtestprotocol(item, log=False, nextitem=item.parent)
        if any(r.failed or r.skipped for r in reports):
            return None     # the real run reports it
        # pytest appends each run's captured output and log records to the
        # item ("Captured stderr call"...): not the test's growth.
        item._report_sections.clear()
        after = _snapshot()
        if i >= warmups:
            deltas.append(tuple(a - b for a, b in zip(after, before)))
        before = after
    refs, blocks, fds = (list(d) for d in zip(*deltas))
    problems = []
    if _all_positive(refs):
        problems.append(f"leaked references {refs}")
    if _all_positive(blocks):
        problems.append(f"leaked memory blocks {blocks}")
    if any(fds):
        problems.append(f"leaked file descriptors {fds}")
    if problems:
        item._yp_refleak = (f"refleak: {item.nodeid} " + ", ".join(problems)
                            + f" over {runs} runs")
    return None             # let pytest run and report it as usual


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    message = getattr(item, "_yp_refleak", None)
    report = outcome.get_result()
    if message and call.when == "call" and report.passed:
        report.outcome = "failed"
        report.longrepr = message
