/*
 * helpers.h -- shared by the core unit tests: a "counting waker".
 *
 * A yp_waker_t embedded in a test-owned struct (usually on the stack),
 * whose vtable counts wakes and destroys instead of scheduling anything.
 * destroy does not free: the test owns the memory and inspects the
 * counters after the last reference is gone.
 *
 * Tests that must wait for a wake from another thread (the timer thread,
 * a sender) block on a condition variable with a generous deadline; they
 * never sleep-and-hope.  Signalling costs a mutex, which would serialise
 * the waker storm, so wake() only signals when somebody is waiting:
 *
 *   waker:  wakes++ (seq_cst);   if (waiters) { lock; broadcast; unlock }
 *   waiter: waiters++ (seq_cst); lock; while (!cond) timedwait; unlock
 *
 * Both sides are seq_cst, so at least one of them sees the other's
 * increment: either the waker signals, or the waiter's check (which
 * happens under the lock, after its own increment) sees the new count.
 */
#ifndef YP_TEST_HELPERS_H
#define YP_TEST_HELPERS_H

#include <criterion/criterion.h>

#include "internal.h"
#include "../gates/leakcheck.h"
#include "../gates/slowdown.h"

#include <pthread.h>
#include <stdint.h>
#include <time.h>

typedef struct counting_waker_s {
    yp_waker_t base;
    long wakes;                 /* atomic */
    long destroys;              /* atomic */
    uint64_t first_wake_ns;     /* atomic; CLOCK_MONOTONIC, 0 = none */
    int waiters;                /* atomic */
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* CLOCK_MONOTONIC */
} counting_waker_t;

static inline uint64_t
test_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void
cw_signal(counting_waker_t *cw)
{
    if (__atomic_load_n(&cw->waiters, __ATOMIC_SEQ_CST) > 0) {
        pthread_mutex_lock(&cw->mu);
        pthread_cond_broadcast(&cw->cv);
        pthread_mutex_unlock(&cw->mu);
    }
}

static inline void
cw_wake(yp_waker_t *w)
{
    counting_waker_t *cw = (counting_waker_t *)w;
    uint64_t zero = 0;
    __atomic_compare_exchange_n(&cw->first_wake_ns, &zero, test_now_ns(), 0,
                                __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    __atomic_fetch_add(&cw->wakes, 1, __ATOMIC_SEQ_CST);
    cw_signal(cw);
}

static inline void
cw_destroy(yp_waker_t *w)
{
    counting_waker_t *cw = (counting_waker_t *)w;
    __atomic_fetch_add(&cw->destroys, 1, __ATOMIC_SEQ_CST);
    cw_signal(cw);
}

static const yp_waker_vtable_t counting_waker_vtable = {
    .wake = cw_wake,
    .destroy = cw_destroy,
};

/* One reference, held by the caller. */
static inline void
cw_init(counting_waker_t *cw)
{
    yp_waker_init(&cw->base, &counting_waker_vtable, cw);
    cw->wakes = 0;
    cw->destroys = 0;
    cw->first_wake_ns = 0;
    cw->waiters = 0;
    pthread_mutex_init(&cw->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&cw->cv, &attr);
    pthread_condattr_destroy(&attr);
}

/* Only once no other thread can touch the waker any more. */
static inline void
cw_fini(counting_waker_t *cw)
{
    pthread_cond_destroy(&cw->cv);
    pthread_mutex_destroy(&cw->mu);
}

static inline long
cw_wakes(counting_waker_t *cw)
{
    return __atomic_load_n(&cw->wakes, __ATOMIC_SEQ_CST);
}

static inline long
cw_destroys(counting_waker_t *cw)
{
    return __atomic_load_n(&cw->destroys, __ATOMIC_SEQ_CST);
}

/* Wait until *counter >= target or `seconds` pass.  Returns non-zero on
 * success; tests assert on it, so a lost wake fails instead of hanging. */
static inline int
cw_wait_counter(counting_waker_t *cw, long *counter, long target,
                double seconds)
{
    uint64_t deadline = test_now_ns() + (uint64_t)(seconds * 1e9);
    struct timespec ts = {
        .tv_sec = (time_t)(deadline / 1000000000u),
        .tv_nsec = (long)(deadline % 1000000000u),
    };
    int ok;
    __atomic_fetch_add(&cw->waiters, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&cw->mu);
    for (;;) {
        ok = __atomic_load_n(counter, __ATOMIC_SEQ_CST) >= target;
        if (ok || pthread_cond_timedwait(&cw->cv, &cw->mu, &ts) != 0) {
            /* Success, or timed out: one last look decides. */
            ok = __atomic_load_n(counter, __ATOMIC_SEQ_CST) >= target;
            break;
        }
    }
    pthread_mutex_unlock(&cw->mu);
    __atomic_fetch_sub(&cw->waiters, 1, __ATOMIC_SEQ_CST);
    return ok;
}

static inline int
cw_wait_wakes(counting_waker_t *cw, long n, double seconds)
{
    return cw_wait_counter(cw, &cw->wakes, n, seconds);
}

static inline int
cw_wait_destroyed(counting_waker_t *cw, double seconds)
{
    return cw_wait_counter(cw, &cw->destroys, 1, seconds);
}

/* Drop the caller's reference and wait until every other one is gone
 * too (destroy ran).  Needed before cw_fini whenever another thread may
 * still hold a clone: a timer thread or a sender wakes first and drops
 * after, so "woken" does not mean "released". */
static inline int
cw_release(counting_waker_t *cw, double seconds)
{
    yp_waker_drop(&cw->base);
    return cw_wait_destroyed(cw, seconds);
}

/* A poll context around a waker. */
static inline yp_context_t
cw_context(yp_waker_t *w)
{
    yp_context_t cx = {.waker = w};
    return cx;
}

/* ---------------------------------------------------------------------
 * YP_UTEST: a Criterion Test whose body runs in a function of its own,
 * followed by the end-of-test checks.
 *
 * Why not a suite .fini: Criterion prints a failed assertion made in .fini
 * but still reports the test as passing (Criterion issue #211), and it
 * ignores the worker's exit status, so neither a .fini check nor LSan's
 * or Memcheck's report at exit would ever fail a leaking test.  Checking
 * from the test's own frame, after the body's frame has returned, gates
 * it, and the body's stale stack slots are below the stack pointer where
 * the leak scan does not count them as references.
 */
static void
yp_test_end(void)
{
    cr_assert_eq(yp__oneshot_live(), 0, "%ld oneshot channels leaked",
                 yp__oneshot_live());
    cr_assert_eq(yp__timer_live(), 0, "%ld timers leaked",
                 yp__timer_live());
    cr_assert_eq(yp__wakeq_live(), 0, "%ld wake queues leaked",
                 yp__wakeq_live());
    cr_assert_eq(yp_leakcheck_definite(), 0,
                 "memory definitely lost (%s report above)",
                 yp_leakcheck_tool() ? yp_leakcheck_tool() : "checker");
}

#define YP_UTEST(suite, name, ...)                                     \
    static void yp_ut_##suite##_##name(void);                          \
    Test(suite, name, ##__VA_ARGS__)                                   \
    {                                                                  \
        yp_ut_##suite##_##name();                                      \
        yp_test_end();                                                 \
    }                                                                  \
    static void yp_ut_##suite##_##name(void)

#endif /* YP_TEST_HELPERS_H */
