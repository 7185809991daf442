"""Driving a coroutine by hand, outside any runtime.

Outside a loop a coroutine of this protocol yields only None (woken during
the poll: "run me again"); anything else would be a suspension that needs
a runtime.  ``drive`` sends until the coroutine finishes.
"""


class DriveError(AssertionError):
    """The coroutine did not behave as driving by hand requires."""


class Unfinished(DriveError):
    """Still running after the allowed number of sends."""


def drive(coro, value=None, *, max_sends=10000, any_yield=False,
          retry=None):
    """Send `value` into `coro` until it finishes; return (result, yields).

    Each yield must be None (DriveError otherwise) unless `any_yield`.
    What the coroutine raises propagates, except when ``retry(exc)`` is
    true: the send failed but the coroutine lives on (a real Pending polled
    outside a loop raises messages.NO_LOOP and stays suspended), and the
    next send goes ahead.  After `max_sends` sends without an end, raises
    Unfinished."""
    yields = []
    for _ in range(max_sends):
        try:
            y = coro.send(value)
        except StopIteration as e:
            return e.value, yields
        except BaseException as e:      # noqa: B902 -- retry decides
            if retry is not None and retry(e):
                continue
            raise
        if y is not None and not any_yield:
            raise DriveError(f"by hand outside a loop, yielded {y!r}")
        yields.append(y)
    raise Unfinished(f"coroutine did not finish after {max_sends} sends")
