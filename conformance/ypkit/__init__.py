"""ypkit -- the contract kit: what every Python user of the contract shares.

One owner for each piece of the contract that Python code needs, imported
by the conformance cases (``conformance/cases``), the Python fuzz drivers
(``fuzz/py``), the pytest tests (``tests/python``) and the benchmark:

``messages``
    The contract's exact error and warning texts.
``scripted``
    The ``scripted(steps, probe=None)`` fixture's step grammar, the
    outcome a step gives when it is polled, and the "ways" prefixes.
``drive``
    Driving a coroutine by hand outside any runtime (send until it ends).
``refleak``
    regrtest -R style leak hunting, set by the one variable
    ``YP_REFLEAK=warmups:runs``: caches cleared, snapshot, verdict.

The package depends on nothing but the standard library and never imports
the implementation under test, so that any adapter (conformance/ADAPTER.md)
can be checked with it.  It lives in ``conformance/`` (on the suite's
sys.path); the other users add that directory to ``sys.path``.
"""
