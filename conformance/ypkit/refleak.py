"""regrtest -R for this project: the one refleak check.

One setting, ``YP_REFLEAK=warmups:runs`` (the pydebug test presets set it;
``yp-conform --refleak W:R`` sets it for its workers).  A body is run
warmups+runs times in one interpreter; after each run ``snapshot()``
clears the caches that legitimately fill (as CPython's
Lib/test/libregrtest/refleak.py dash_R does: the type attribute cache,
``re``'s pattern cache, the ABC registries' caches of ``collections.abc``),
collects, and reads the total reference count, the allocated blocks and
the open fds.  ``verdict`` is regrtest's rule: references or blocks leak
if they grew on *every* measured run (a one-off cache fill such as
[3, 0, 0] is not a leak), fds if they changed on any.

Users: the conformance harness (``hunt``), the pytest plugin
tests/python/refleak.py (``hunt``) and the engine's C test
harness tests/engine/harness.c, which calls ``clear_caches`` and keeps its
own loop and the same verdict in C.  Needs a debug interpreter
(``sys.gettotalrefcount``, /usr/bin/python3.11d); elsewhere asking for it
is an error, never a silent pass.
"""
import gc
import os
import sys

ENV = "YP_REFLEAK"


class SettingError(ValueError):
    """YP_REFLEAK is malformed, or the interpreter cannot count refs."""


def parse(spec):
    """'W:R' -> (warmups, runs); SettingError when malformed."""
    try:
        warmups, runs = (int(x) for x in spec.split(":"))
    except ValueError:
        raise SettingError(f"{ENV}={spec!r}: expected warmups:runs, "
                           f"e.g. 2:3") from None
    if warmups < 0 or runs < 1:
        raise SettingError(f"{ENV}={spec!r}: need warmups >= 0, runs >= 1")
    return warmups, runs


def settings(environ=os.environ):
    """(warmups, runs) from YP_REFLEAK, or None when it is unset or empty.
    SettingError when it is malformed or the interpreter is not a debug
    build."""
    spec = environ.get(ENV, "")
    if not spec:
        return None
    rl = parse(spec)
    if not hasattr(sys, "gettotalrefcount"):
        raise SettingError(f"{ENV} needs a debug interpreter "
                           f"(/usr/bin/python3.11d, the pydebug preset): "
                           f"sys.gettotalrefcount is missing")
    return rl


def clear_caches():
    """Drop what fills legitimately and would read as growth."""
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


def fd_count():
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


def snapshot(collect=gc.collect):
    """(total refs, allocated blocks, open fds) after clearing caches and
    collecting (`collect`: the caller's own collection, if it does more)."""
    clear_caches()
    collect()
    return sys.gettotalrefcount(), sys.getallocatedblocks(), fd_count()


def verdict(refs, blocks, fds):
    """The growth of each measured run: total references, allocated blocks,
    open fds.  Returns the problems found (empty: no leak)."""
    problems = []
    if refs and all(d >= 1 for d in refs):
        problems.append(f"leaked references {refs}")
    if blocks and all(d >= 1 for d in blocks):
        problems.append(f"leaked memory blocks {blocks}")
    if any(fds):
        problems.append(f"leaked file descriptors {fds}")
    return problems


def hunt(once, warmups, runs, collect=gc.collect):
    """Run ``once()`` warmups+runs times; return the problems found (see
    verdict).  ``once`` raises to stop the hunt (its failure is the
    result, not a leak)."""
    # Allocated up front: the hunt's own bookkeeping must not grow inside
    # the measured window (a tuple appended per run reads as one leaked
    # block per run).  The deltas are small ints, which CPython caches.
    refs, blocks, fds = [0] * runs, [0] * runs, [0] * runs
    before = snapshot(collect)
    for i in range(warmups + runs):
        once()
        after = snapshot(collect)
        if i >= warmups:
            k = i - warmups
            refs[k] = after[0] - before[0]
            blocks[k] = after[1] - before[1]
            fds[k] = after[2] - before[2]
        before = after
    return verdict(refs, blocks, fds)
