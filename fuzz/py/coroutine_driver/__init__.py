"""Driver of the `coroutine` fuzz target (loaded by fuzz/py_target.c).

Bytes become operations on real yieldpoint coroutines: scripted futures,
Counter methods (borrows), cancellable(), sleeps; send/__next__/throw in
every argument form/close, dropping (finalize), reference cycles and GC,
wakes from the timer thread (("wake_after", s) steps with tiny s),
re-entrant calls through ("call", fn) steps, and driving inside a running
asyncio loop or, when the interpreter has trio, a trio run (cancelled
through its scope: abort_fn and outcome.Error). A model predicts the outcome of every operation from the
contract (conformance/SPEC.md, through the contract kit ypkit); after each
input every coroutine and future is gone (yieldpoint._live() back to
baseline), every object handed to the engine is freed (weakrefs), every
borrow is released (Counter.set succeeds) and no unraisable exception was
reported. Anything else raises FuzzFailure, which the harness turns into a
crash.

One concern per file, each using only the ones listed after it:

  play        setup() and run(data): one input, then the end-of-input checks
  operations  what a byte can do to a slot: send, throw, close, delete,
              cycle, GC, Counter's sync methods, a turn in asyncio or in
              trio, a sleep
  factories   new coroutines for a slot, their steps and arguments
  checker     capturing an operation's result and comparing it with the
              expected outcome
  model       the model of slots, Counters and the World of one input
  objects     the objects handed to the engine, weakly tracked

The step grammar, its outcomes and the contract's texts are the contract
kit's (ypkit.scripted, ypkit.messages).
"""
from .play import run, setup

__all__ = ["setup", "run"]     # what fuzz/py_target.c calls
