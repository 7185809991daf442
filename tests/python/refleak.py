"""refleak -- regrtest -R for pytest: YP_REFLEAK=warmups:runs.

Each test is run warmups+runs extra times (setup, call and teardown of its
function-scoped fixtures, unreported), then once more as usual.  The
measuring and the verdict are the contract kit's (``ypkit.refleak``, the
one refleak check of the project): after each extra run a snapshot clears
the caches, collects and reads total references, allocated blocks and
open fds; a test leaks if references or blocks grew on *every* measured
run, or fds changed on any.  The usual run then fails with the deltas.

Needs the debug interpreter (/usr/bin/python3.11d, the pydebug preset);
elsewhere YP_REFLEAK is an error rather than a silent pass.  Inert without
YP_REFLEAK.  Loaded by conftest.py (which puts the kit on sys.path).
"""
import pytest
from _pytest.runner import runtestprotocol

from ypkit import refleak


def _settings():
    try:
        return refleak.settings()
    except refleak.SettingError as e:
        raise pytest.UsageError(str(e)) from None


def pytest_configure(config):
    if _settings() is None:
        return
    config.addinivalue_line(
        "markers", "no_refleak(reason): do not repeat this test under YP_REFLEAK")


def pytest_report_header(config):
    rl = _settings()
    if rl is not None:
        return f"refleak: {refleak.ENV}={rl[0]}:{rl[1]} (warmups:runs)"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    rl = _settings()
    if rl is None or item.get_closest_marker("no_refleak"):
        return None
    warmups, runs = rl

    class Failed(Exception):
        pass

    def once():
        # nextitem=<the test's parent>: the test's own (function-scoped)
        # fixtures are torn down after each run, its module's and the
        # session's are kept, for these runs and the real one below.
        reports = runtestprotocol(item, log=False, nextitem=item.parent)
        if any(r.failed or r.skipped for r in reports):
            raise Failed    # the real run reports it
        # pytest appends each run's captured output and log records to the
        # item ("Captured stderr call"...): not the test's growth.
        item._report_sections.clear()

    try:
        problems = refleak.hunt(once, warmups, runs)
    except Failed:
        return None
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
