"""The contract's exact texts (conformance/SPEC.md clause IDs in brackets).

This module is the one Python owner of these texts.  The engine's C
strings (``engine/src/py/coroutine.c``, ``asyncio_rt.c``,
``engine/fixtures/scripted.c``, and the ``YP_ERRNO_MAP`` of
``engine/include/yieldpoint/core.h`` that ``engine/src/core/errors.c``
reads) are not the source of truth: they are one implementation's copy of
the contract, whose own sources are CPython's ``genobject.c`` and PyO3's
``pycell.rs`` (see SPEC.md).  The kit cannot read them either: it must
serve adapters that have no engine sources at hand.  A drift between the
engine and these texts is what the conformance cases catch.
"""

# RuntimeError of a real Pending polled outside a running loop
# [pending.no-loop-error].
NO_LOOP = "no running event loop"
# RuntimeError of send/__next__/throw after the coroutine finished
# [coro.reuse-error].
REUSE = "cannot reuse already awaited coroutine"
# ValueError of send/throw/close from inside the coroutine's own poll
# [coro.reentrant].
RUNNING = "coroutine already executing"
# RuntimeError a StopIteration becomes when it escapes a poll or a throw
# (PEP 479) [send.stopiteration, throw.stopiteration].
STOP_ITERATION = "coroutine raised StopIteration"
# Borrow refusals [borrow.messages]: exclusive access refused, shared
# access refused.
BORROWED = "Already borrowed"
MUT_BORROWED = "Already mutably borrowed"

# The scripted fixture (ADAPTER.md's table).
# RuntimeError of a poll past the last step [fixture.script-exhausted].
EXHAUSTED = "script exhausted"
# Start of the ValueError of a malformed step [fixture.malformed-step].
MALFORMED = "malformed step"
# Start of the RuntimeError of too long a chain of ("call", fn) steps
# that return ("call", fn) steps.
CALL_CHAIN = "scripted: more than"

# The RuntimeWarning of a coroutine freed before its first poll
# [coro.never-awaited].
NEVER_AWAITED = "was never awaited"


def never_awaited(qualname):
    """The whole warning text for a coroutine of that __qualname__."""
    return f"coroutine '{qualname}' {NEVER_AWAITED}"


def is_never_awaited(warning):
    """Whether a warnings.WarningMessage is the never-awaited warning."""
    return issubclass(warning.category, RuntimeWarning) and \
        NEVER_AWAITED in str(warning.message)
