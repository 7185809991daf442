/*
 * harness.h -- Criterion tests of the CPython binding, through the public
 * API only.  Criterion fork/execs every test, so each test starts its own
 * interpreter in .init and finalizes it in the body's last step.
 */
#ifndef YP_TEST_HARNESS_H
#define YP_TEST_HARNESS_H

#include <yieldpoint.h>

#include <criterion/criterion.h>

/* Start an interpreter (malloc allocator, so ASan/Valgrind see every
 * block) and a module `yp_test` on which yp_init() has run. */
void h_init(void);
/* Collect, assert no pending exception and no live coroutine or future,
 * then Py_FinalizeEx() == 0. */
void h_fini(void);
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

#define H_SUITE(name) TestSuite(name, .init = h_init, .timeout = 60)

#endif /* YP_TEST_HARNESS_H */
