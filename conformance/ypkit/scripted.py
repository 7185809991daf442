"""The ``scripted(steps, probe=None)`` fixture's step grammar and outcomes.

ADAPTER.md's table, as data: one step is consumed per poll::

    "pending"             Pending, no wake arranged
    "wake"                wakes its own waker during the poll; Pending
    ("wake_after", s)     an OS thread wakes the waker s seconds later
    ("ready", v)          completes with v, as is
    ("raise", exc)        fails with exc (an instance, or a class)
    ("call", fn)          calls fn() in the poll, then runs the step it
                          returns (validated then)
    (past the end)        RuntimeError(messages.EXHAUSTED)

``outcome(step)`` predicts what polling a step gives, as a tuple whose
first item is the tag:

    ("pending",)          Pending without a wake: outside a loop a
                          RuntimeError(NO_LOOP), inside one a suspension
    ("yield_none",)       woken during the poll: the coroutine yields None
    ("either",)           a timer wake that may land during the poll or
                          after it: either of the two above
    ("return", v)         StopIteration carrying the very object v
    ("raise_is", e)       raises the very instance e
    ("raise_type", cls)   raises an instance of exactly cls
    ("raise_pep479",)     RuntimeError(STOP_ITERATION) from a StopIteration
    ("malformed",)        ValueError(MALFORMED ...)
    ("runtime", text)     RuntimeError(text): EXHAUSTED past the end

A ("call", fn) step's outcome is that of the step fn returns (or what fn
raises), which only running fn tells: ``outcome`` does not call it.
"""
from . import messages

NAMES = ("pending", "wake", "wake_after", "ready", "raise", "call")
WAYS = ("ready", "wake", "later")   # how a case's final step is reached

PAST_THE_END = ("runtime", messages.EXHAUSTED)


def prefix(way, later):
    """Steps that make the final step happen the given way: at once
    ("ready" or None), after a wake during the poll ("wake"), or after a
    foreign thread's wake `later` seconds on ("later")."""
    if way in (None, "ready"):
        return []
    if way == "wake":
        return ["wake"]
    if way == "later":
        return [("wake_after", later)]
    raise ValueError(f"unknown way {way!r} (known: {', '.join(WAYS)})")


def _instantiates(cls):
    """Whether cls() makes an instance (the engine instantiates a raised
    class with no arguments; a failing constructor raises TypeError)."""
    try:
        cls()
    except TypeError:
        return False
    return True


def outcome(step):
    """The outcome (see the module docstring) of polling `step`."""
    if step == "pending":
        return ("pending",)
    if step == "wake":
        return ("yield_none",)
    if not isinstance(step, tuple) or len(step) != 2 or \
            not isinstance(step[0], str):
        return ("malformed",)
    name, arg = step
    if name == "wake_after":
        return ("either",)
    if name == "ready":
        return ("return", arg)
    if name == "raise":
        if isinstance(arg, type):
            if issubclass(arg, StopIteration):
                return ("raise_pep479",)
            if not _instantiates(arg):
                return ("raise_type", TypeError)
            return ("raise_type", arg)
        if isinstance(arg, StopIteration):
            return ("raise_pep479",)
        return ("raise_is", arg)
    return ("malformed",)


def suspends(out):
    """Whether a poll with this outcome leaves the coroutine suspended."""
    return out[0] in ("pending", "yield_none", "either")
