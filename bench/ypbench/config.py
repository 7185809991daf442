"""Paths, fixtures, and the metrics with their targets."""
import os

# bench/, where the entry point yp_bench.py lives.
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(HERE)
PYTHON = "/usr/bin/python3.11"
SCRIPT = os.path.join(HERE, "yp_bench.py")    # what the children run
DEFAULT_PATH = os.path.join(ROOT, "build", "default", "python")
FIXTURES = ("noop", "yield_now", "park", "wake_parked", "wake_parked_from_thread")
BATCH = 1000   # coroutines parked and woken at a time

# (key, title, baseline description, target ratio or None)
METRICS = [
    ("ready", "ready-await", "async def f(): return 42", 0.7),
    ("yield", "yield-now", "async def f(): await asyncio.sleep(0); return 42", 0.8),
    ("park_loop", "park/wake, loop thread, 1,000 at a time",
     "tasks awaiting loop.create_future(), call_soon(fut.set_result, None)", 0.8),
    ("park_thread", "park/wake, foreign thread, 1,000 at a time",
     "one thread: loop.call_soon_threadsafe(fut.set_result, None) per wake", 0.5),
    ("memory", "memory per suspended coroutine + task (RSS)",
     "async def awaiting a loop future, in a Task", 0.6),
    ("scaling", "park/wake cost per coroutine at 10^6 vs 10^3 (candidate)",
     "the candidate at 10^3", 1.5),
]
# Second targets some metrics carry (performance round 2, issue #14):
# shown beside the first in the target column; the verdict is the first's.
EXTRA_TARGETS = {
    "ready": "callgrind <= 0.85",
    "scaling": "GC off <= 1.1",
}
METRIC_INFO = {m[0]: m for m in METRICS}
