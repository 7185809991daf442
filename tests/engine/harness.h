/*
 * harness.h -- Criterion tests of the CPython binding, through the public
 * API only.  Criterion fork/execs every test, so each test starts its own
 * interpreter in .init and finalizes it in the body's last step.
 */
#ifndef YP_TEST_HARNESS_H
#define YP_TEST_HARNESS_H

#include <yieldpoint.h>

#include <criterion/criterion.h>

#include "../gates/slowdown.h"

/* Start an interpreter (malloc allocator, so ASan/Valgrind see every
 * block; PYTHONMALLOC=malloc_debug etc. honoured, see harness.c) and a
 * module `yp_test` on which yp_init() has run. */
void h_init(void);
/* The last statement of every test body.  Collect; assert no pending
 * exception and no live coroutine or future; check for leaks inside the
 * body (LSan when built with ASan, memcheck under Valgrind: see
 * tests/gates/leakcheck.h); then Py_FinalizeEx() == 0.
 *
 * Refleak mode (YP_REFLEAK=warmups:runs, debug interpreter only): before
 * finalizing, h_fini runs the test body again warmups+runs times in the
 * same interpreter (the nested h_fini calls only collect and check) and
 * fails the test, regrtest -R style, if the total reference count or the
 * allocated block count grew on every measured run, or the number of
 * open fds changed on any.  No test needs changing; a test whose body
 * cannot run twice in one interpreter calls h_no_repeat() first. */
void h_fini(void);
/* Opt this test out of refleak repetition, giving the reason. */
void h_no_repeat(const char *why);
/* The test module (borrowed). */
PyObject *h_module(void);
/* Run Python source in __main__; fail the test on an exception. */
void h_run(const char *src);
/* Evaluate an expression in __main__ (new reference); fail on error. */
PyObject *h_eval(const char *expr);
/* Bind `obj` (borrowed) to `name` in __main__. */
void h_set(const char *name, PyObject *obj);

/* ---------------------------------------------------------------------
 * A configurable C future that counts its polls and drops.
 */
typedef enum {
    T_READY,          /* ready with `value` */
    T_ERROR,          /* raise `value` (an exception instance) */
    T_PENDING,        /* pending, no wake */
    T_WAKE,           /* wake_by_ref during poll, pending */
    T_KEEP_WAKER,     /* clone the waker into t_kept_waker, pending */
} t_step_t;

typedef struct {
    int polls;
    int drops;
} t_counts_t;

/* Steps are copied; the last one repeats.  `counts` must outlive it. */
yp_future_t *t_future(const t_step_t *steps, int n, PyObject *value,
                      t_counts_t *counts);

extern yp_waker_t *t_kept_waker;   /* owned clone, or NULL */

/* Per-test timeout in seconds.  Generous: the gates run bodies under
 * Valgrind (~50x slower) or repeat them (refleak mode). */
#ifndef H_TIMEOUT
#define H_TIMEOUT 300
#endif

#define H_SUITE(name) TestSuite(name, .init = h_init, .timeout = H_TIMEOUT)

#endif /* YP_TEST_HARNESS_H */
