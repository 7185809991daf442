# Compile-time fault injection.  Each name becomes -DYP_FAULT_<NAME> in one
# variant build of the engine and the fixtures module, placed in
# ${CMAKE_BINARY_DIR}/faults/<name>/.  The conformance suite and the gates
# are tested against these variants to prove that they catch each fault.
#
# Protocol faults (the conformance suite must name the broken clause):
set(YP_PROTOCOL_FAULTS
  BORROW_NEVER_RELEASED   # borrow flag never cleared
  DROP_SKIPPED            # future's drop never runs on close/throw/free
  DROP_TWICE              # drop runs twice when a future completes
  EXCEPTION_SWALLOWED     # ERROR from poll finishes with None instead
  WAKER_IGNORED           # an armed waker's wake never reaches the loop
  STOPITERATION_LEAKED    # StopIteration from a future is not converted
  DETACH_KEEPS_GIL        # yp_detach polls with the GIL held
  REUSE_ERROR_MISSING     # send after finish is silently accepted
  TUPLE_UNWRAPPED         # a tuple result loses its tuple-ness
  CANCEL_DROPS            # throw with a cancel handle drops the future
  TRIO_STALE_RESCHEDULE   # trio abort_fn leaves the wait armed: a queued wake reschedules again
  TRIO_ERROR_UNROUTED     # outcome.Error bypasses the cancel handle
  WAITER_CANCEL_IGNORED   # the asyncio waiter's cancel() says True, ends nothing
)
# Memory/thread faults (the ASan, Valgrind, TSan and refleak gates must bite):
set(YP_GATE_FAULTS
  LEAK_REF                # one reference leaked per completed coroutine
  OOB_WRITE               # one byte past a heap block (task waker; coroutine; wake queue)
  USE_AFTER_FREE          # the loop future is read after its release
  WAKER_DOUBLE_FREE       # non-atomic waker refcount decrement (a race)
  HEAP_LEAK               # a destroyed heap task waker is never freed
)
