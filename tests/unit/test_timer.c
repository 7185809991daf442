/* test_timer.c -- yp_timer_* and yp_wake_after on the shared timer
 * thread.  Timing assertions are only "not before the deadline" and
 * generous upper bounds; waiting is done on condition variables. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"


TestSuite(timer, .timeout = 120);

#define NS 1000000000.0
/* "Within 2 s" of the deadline, as the upper bound for every wait. */
#define SLACK 2.0

static yp_timer_t *
start(double seconds)
{
    yp_timer_t *t = NULL;
    int err = yp_timer_start(seconds, &t);
    cr_assert_eq(err, 0, "yp_timer_start(%g): %s", seconds,
                 yp_err_name(err));
    cr_assert_not_null(t);
    return t;
}

YP_UTEST(timer, fires_after_deadline_not_before)
{
    counting_waker_t cw;
    cw_init(&cw);
    yp_context_t cx = cw_context(&cw.base);
    const double s = 0.3;
    uint64_t t0 = test_now_ns();
    yp_timer_t *t = start(s);
    int r = yp_timer_poll(t, &cx);
    uint64_t t1 = test_now_ns();
    if (r == YP_READY) {
        /* Only legal if the machine stalled past the deadline. */
        cr_assert_geq((double)(t1 - t0), s * NS, "READY before deadline");
    }
    else {
        cr_assert_eq(r, YP_PENDING);
        cr_assert_eq(yp_waker_refcount(&cw.base), 2, "waker registered");
        cr_assert(cw_wait_wakes(&cw, 1, s + SLACK), "never fired");
        uint64_t woke = __atomic_load_n(&cw.first_wake_ns, __ATOMIC_SEQ_CST);
        cr_assert_geq((double)(woke - t0), s * NS, "woken %.6f s early",
                      s - (double)(woke - t0) / NS);
        cr_assert_leq((double)(woke - t0), (s + SLACK) * NS);
        cr_assert_eq(yp_timer_poll(t, &cx), YP_READY);
        cr_assert_geq((double)(test_now_ns() - t0), s * NS);
        cr_assert_eq(cw_wakes(&cw), 1, "exactly one wake");
    }
    /* Ready stays ready, and polling a fired timer registers nothing. */
    cr_assert_eq(yp_timer_poll(t, &cx), YP_READY);
    yp_timer_drop(t);
    cr_assert(cw_release(&cw, SLACK), "a clone was never released");
    cr_assert_eq(cw_wakes(&cw), r == YP_READY ? 0 : 1);
    cw_fini(&cw);
}

YP_UTEST(timer, zero_seconds_is_ready_at_once)
{
    counting_waker_t cw;
    cw_init(&cw);
    yp_context_t cx = cw_context(&cw.base);
    yp_timer_t *t = start(0.0);
    cr_assert_eq(yp_timer_poll(t, &cx), YP_READY);
    yp_timer_drop(t);
    t = start(-0.0);
    cr_assert_eq(yp_timer_poll(t, &cx), YP_READY);
    yp_timer_drop(t);
    cr_assert_eq(yp_waker_refcount(&cw.base), 1);
    /* and a zero wake_after fires as soon as the thread gets to it */
    cr_assert_eq(yp_wake_after(&cw.base, 0.0), 0);
    cr_assert(cw_wait_wakes(&cw, 1, SLACK));
    yp_waker_drop(&cw.base);
    cr_assert(cw_wait_destroyed(&cw, SLACK));
    cw_fini(&cw);
}

YP_UTEST(timer, invalid_arguments)
{
    yp_timer_t *t = NULL;
    cr_assert_eq(yp_timer_start(-1.0, &t), YP_EINVAL);
    cr_assert_eq(yp_timer_start(-1e-9, &t), YP_EINVAL);
    cr_assert_eq(yp_timer_start(-INFINITY, &t), YP_EINVAL);
    cr_assert_eq(yp_timer_start(NAN, &t), YP_EINVAL);
    cr_assert_eq(yp_timer_start(1.0, NULL), YP_EINVAL);
    cr_assert_null(t, "no timer on error");

    counting_waker_t cw;
    cw_init(&cw);
    cr_assert_eq(yp_wake_after(&cw.base, -1.0), YP_EINVAL);
    cr_assert_eq(yp_wake_after(&cw.base, NAN), YP_EINVAL);
    cr_assert_eq(yp_wake_after(NULL, 1.0), YP_EINVAL);
    cr_assert_eq(yp_waker_refcount(&cw.base), 1, "no clone kept on error");
    yp_waker_drop(&cw.base);
    cr_assert_eq(cw_wakes(&cw), 0);
    cw_fini(&cw);
}

YP_UTEST(timer, huge_and_infinite_never_fire)
{
    counting_waker_t cw;
    cw_init(&cw);
    yp_context_t cx = cw_context(&cw.base);
    yp_timer_t *a = start(INFINITY);
    yp_timer_t *b = start(1e300);
    yp_timer_t *c = start(1.8e10);
    cr_assert_eq(yp_timer_poll(a, &cx), YP_PENDING);
    cr_assert_eq(yp_timer_poll(b, &cx), YP_PENDING);
    cr_assert_eq(yp_timer_poll(c, &cx), YP_PENDING);
    cr_assert_eq(yp__timer_pending(), 3);
    yp_timer_drop(a);
    yp_timer_drop(b);
    yp_timer_drop(c);
    cr_assert_eq(cw_wakes(&cw), 0);
    yp_waker_drop(&cw.base);
    cw_fini(&cw);
}

YP_UTEST(timer, repoll_keeps_or_replaces_the_waker)
{
    counting_waker_t a, b;
    cw_init(&a);
    cw_init(&b);
    yp_context_t cxa = cw_context(&a.base), cxb = cw_context(&b.base);
    yp_timer_t *t = start(0.2);
    if (yp_timer_poll(t, &cxa) == YP_PENDING) {
        cr_assert_eq(yp_timer_poll(t, &cxa), YP_PENDING);
        cr_assert_eq(yp_waker_refcount(&a.base), 2,
                     "re-polling with a will_wake waker must not clone");
        cr_assert_eq(yp_timer_poll(t, &cxb), YP_PENDING);
        cr_assert_eq(yp_waker_refcount(&a.base), 1, "replaced one dropped");
        cr_assert_eq(yp_waker_refcount(&b.base), 2);
        cr_assert(cw_wait_wakes(&b, 1, 0.2 + SLACK));
        cr_assert_eq(cw_wakes(&a), 0, "only the latest waker is woken");
    }
    cr_assert_eq(yp_timer_poll(t, &cxa), YP_READY);
    yp_timer_drop(t);
    cr_assert(cw_release(&a, SLACK));
    cr_assert(cw_release(&b, SLACK));
    cw_fini(&a);
    cw_fini(&b);
}

/* Cancel before firing: never woken.  Proven without sleeping: a
 * sentinel due later than the cancelled timer is woken, and the thread
 * fires in deadline order, so the cancelled one had its chance first. */
YP_UTEST(timer, cancel_before_fire_never_wakes)
{
    counting_waker_t cw, sentinel;
    cw_init(&cw);
    cw_init(&sentinel);
    yp_context_t cx = cw_context(&cw.base);
    yp_timer_t *t = start(0.1);
    int r = yp_timer_poll(t, &cx);
    yp_timer_drop(t);
    cr_assert_eq(yp_waker_refcount(&cw.base), 1, "drop releases the waker");
    cr_assert_eq(yp_wake_after(&sentinel.base, 0.2), 0);
    cr_assert(cw_wait_wakes(&sentinel, 1, 0.2 + SLACK));
    if (r == YP_PENDING) {
        cr_assert_eq(cw_wakes(&cw), 0, "a cancelled timer woke its waker");
    }
    yp_waker_drop(&cw.base);
    yp_waker_drop(&sentinel.base);
    cr_assert(cw_wait_destroyed(&sentinel, SLACK));
    cr_assert_eq(cw_destroys(&cw), 1);
    cw_fini(&cw);
    cw_fini(&sentinel);
}

YP_UTEST(timer, drop_after_fire_and_drop_unpolled)
{
    counting_waker_t sentinel;
    cw_init(&sentinel);
    yp_timer_t *fired = start(0.01);
    yp_timer_t *never_polled = start(0.02);
    cr_assert_eq(yp_wake_after(&sentinel.base, 0.05), 0);
    cr_assert(cw_wait_wakes(&sentinel, 1, SLACK));
    /* Both are due and fired without ever having a waker. */
    cr_assert_eq(yp_timer_poll(fired, &(yp_context_t){
                                   .waker = yp_waker_noop()}),
                 YP_READY);
    yp_timer_drop(fired);
    yp_timer_drop(never_polled);
    yp_timer_drop(NULL);
    yp_waker_drop(&sentinel.base);
    cr_assert(cw_wait_destroyed(&sentinel, SLACK));
    cw_fini(&sentinel);
}

YP_UTEST(timer, wake_after_wakes_a_clone_once)
{
    counting_waker_t cw;
    cw_init(&cw);
    const double s = 0.05;
    uint64_t t0 = test_now_ns();
    cr_assert_eq(yp_wake_after(&cw.base, s), 0);
    cr_assert_eq(yp_waker_refcount(&cw.base), 2, "the timer holds a clone");
    /* The timer's clone is now the last reference: the thread wakes it,
     * then its drop destroys the waker. */
    yp_waker_drop(&cw.base);
    cr_assert(cw_wait_destroyed(&cw, s + SLACK), "clone never released");
    cr_assert_eq(cw_wakes(&cw), 1);
    uint64_t woke = __atomic_load_n(&cw.first_wake_ns, __ATOMIC_SEQ_CST);
    cr_assert_geq((double)(woke - t0), s * NS, "woken early");
    cw_fini(&cw);
}

/* ---------------------------------------------------------------------
 * Firing order.  Each wake_after's deadline is only known to lie in
 * [before + s, after + s] (the clock is read inside the call), so the
 * check is: never fire j after i when j's deadline is certainly earlier.
 * That needs no assumption about how fast the calls run.
 */
#define ORDER_N 1000

typedef struct {
    yp_waker_t base;
    int idx;
} order_waker_t;

static int fired_order[ORDER_N];
static int fired_n;                 /* atomic */
static counting_waker_t order_done; /* woken once per fire */

static void
order_wake(yp_waker_t *w)
{
    int pos = __atomic_fetch_add(&fired_n, 1, __ATOMIC_SEQ_CST);
    if (pos < ORDER_N) {
        fired_order[pos] = ((order_waker_t *)w)->idx;
    }
    yp_waker_wake_by_ref(&order_done.base);
}

/* Counted on order_done.destroys: each order waker is destroyed when the
 * timer thread drops its last reference, after the wake. */
static void
order_destroy(yp_waker_t *w)
{
    (void)w;
    __atomic_fetch_add(&order_done.destroys, 1, __ATOMIC_SEQ_CST);
    cw_signal(&order_done);
}

static const yp_waker_vtable_t order_vtable = {order_wake, order_destroy};

YP_UTEST(timer, fires_in_deadline_order)
{
    static order_waker_t ws[ORDER_N];
    static uint64_t lo[ORDER_N], hi[ORDER_N];
    cw_init(&order_done);
    unsigned seed = 12345;
    for (int k = 0; k < ORDER_N; k++) {
        /* idx k gets deadline 10 ms + k * 0.3 ms, inserted shuffled */
        ws[k].idx = k;
        yp_waker_init(&ws[k].base, &order_vtable, NULL);
    }
    int perm[ORDER_N];
    for (int k = 0; k < ORDER_N; k++) {
        perm[k] = k;
    }
    for (int k = ORDER_N - 1; k > 0; k--) {
        seed = seed * 1103515245u + 12345u;
        int j = (int)((seed >> 8) % (unsigned)(k + 1));
        int tmp = perm[k];
        perm[k] = perm[j];
        perm[j] = tmp;
    }
    for (int n = 0; n < ORDER_N; n++) {
        int k = perm[n];
        double s = 0.010 + k * 0.0003;
        uint64_t add = (uint64_t)ceil(s * NS);
        lo[k] = test_now_ns() + add;
        cr_assert_eq(yp_wake_after(&ws[k].base, s), 0);
        hi[k] = test_now_ns() + add;
        yp_waker_drop(&ws[k].base);     /* the timer's clone is the last */
    }
    cr_assert(cw_wait_wakes(&order_done, ORDER_N, 0.4 + 10 * SLACK));
    cr_assert(cw_wait_counter(&order_done, &order_done.destroys, ORDER_N,
                              SLACK),
              "every clone is released after its wake");
    cr_assert_eq(__atomic_load_n(&fired_n, __ATOMIC_SEQ_CST), ORDER_N);
    for (int p = 0; p < ORDER_N; p++) {
        int i = fired_order[p];
        for (int q = p + 1; q < ORDER_N; q++) {
            int j = fired_order[q];
            cr_assert_geq(hi[j], lo[i], "timer %d fired before %d", i, j);
        }
    }
    cr_assert_eq(cw_wakes(&order_done), ORDER_N, "each fired once");
    yp_waker_drop(&order_done.base);
}

/* ---------------------------------------------------------------------
 * Waking the thread: only for a deadline earlier than its sleep.
 */

/* One field of yp__timer_sleep_state: 0 signals, 1 sleep_until. */
static uint64_t
sleep_state(int which)
{
    unsigned long n;
    uint64_t d;
    yp__timer_sleep_state(&n, &d);
    return which == 0 ? n : d;
}
#define timer_signals() ((unsigned long)sleep_state(0))
#define timer_sleep_until() sleep_state(1)

/* Wait (up to SLACK) until the thread is in a timed sleep. */
static uint64_t
wait_timed_sleep(void)
{
    uint64_t until = test_now_ns() + (uint64_t)(SLACK * NS);
    for (;;) {
        uint64_t d = timer_sleep_until();
        if (d != 0 && d != UINT64_MAX) {
            return d;
        }
        cr_assert_lt(test_now_ns(), until, "the timer thread never slept");
        nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
    }
}

YP_UTEST(timer, later_deadlines_do_not_wake_the_thread)
{
    /* "Start a long timer, cancel it" in a loop (every sleep cancelled
     * by a timeout, say) must not wake the thread on every start: a push
     * signals only a deadline earlier than the thread's sleep. */
    yp_timer_t *t = start(3600.0);
    uint64_t slept = wait_timed_sleep();
    unsigned long s0 = timer_signals();
    for (int i = 0; i < 100; i++) {
        yp_timer_drop(t);
        t = start(3600.0 + i);
    }
    cr_assert_eq(timer_signals(), s0,
                 "a later deadline signalled the thread %lu times",
                 timer_signals() - s0);
    cr_assert_geq(timer_sleep_until(), slept);
    yp_timer_drop(t);
}

YP_UTEST(timer, an_earlier_deadline_cuts_a_long_sleep_short)
{
    counting_waker_t cw;
    cw_init(&cw);
    yp_context_t cx = cw_context(&cw.base);
    yp_timer_t *far = start(3600.0);
    wait_timed_sleep();
    unsigned long s0 = timer_signals();
    const double s = 0.05;
    uint64_t t0 = test_now_ns();
    yp_timer_t *near = start(s);
    cr_assert_eq(timer_signals(), s0 + 1, "the sleeper was not told");
    if (yp_timer_poll(near, &cx) == YP_PENDING) {
        cr_assert(cw_wait_wakes(&cw, 1, s + SLACK),
                  "the near timer never fired: the thread slept on");
    }
    cr_assert_geq((double)(test_now_ns() - t0), s * NS);
    cr_assert_eq(yp_timer_poll(near, &cx), YP_READY);
    cr_assert_eq(yp_timer_poll(far, &cx), YP_PENDING);
    yp_timer_drop(near);
    yp_timer_drop(far);
    cr_assert(cw_release(&cw, SLACK), "a clone was never released");
    cw_fini(&cw);
}

/* ---------------------------------------------------------------------
 * Volume.
 */
#define MANY yp_test_scaled(100000)

YP_UTEST(timer, many_timers_fire_and_cancel, .timeout = 300)
{
    counting_waker_t cw;
    cw_init(&cw);
    yp_context_t cx = cw_context(&cw.base);
    yp_timer_t **ts = malloc(MANY * sizeof(*ts));
    cr_assert_not_null(ts);
    unsigned seed = 1;
    long registered = 0;
    for (int i = 0; i < MANY; i++) {
        seed = seed * 1103515245u + 12345u;
        /* Even: due within 0.2 s.  Odd: an hour away, cancelled below,
         * which removes them from all over the heap. */
        double s = i % 2 ? 3600.0 + (seed >> 16) % 1000
                         : ((seed >> 8) % 200000) * 1e-6;
        ts[i] = start(s);
        if (yp_timer_poll(ts[i], &cx) == YP_PENDING) {
            registered++;
        }
    }
    for (int i = 1; i < MANY; i += 2) {
        yp_timer_drop(ts[i]);
        ts[i] = NULL;
    }
    /* Every registered even timer wakes exactly once; cancelled odd ones
     * were registered too but must not wake. */
    long odd = MANY / 2;
    cr_assert(cw_wait_wakes(&cw, registered - odd, 30.0),
              "%ld of %ld wakes", cw_wakes(&cw), registered - odd);
    for (int i = 0; i < MANY; i += 2) {
        cr_assert_eq(yp_timer_poll(ts[i], &cx), YP_READY, "timer %d", i);
        yp_timer_drop(ts[i]);
    }
    free(ts);
    cr_assert(cw_release(&cw, SLACK), "a clone was never released");
    cr_assert_eq(cw_wakes(&cw), registered - odd);
    cw_fini(&cw);
}

/* 10^6 pending timers: start and cancel in scrambled order, O(log n)
 * each.  No firing; this is the heap's scaling test. */
#define MILLION yp_test_scaled(1000000)   /* 10^5 under Valgrind */

YP_UTEST(timer, a_million_pending_timers, .timeout = 300)
{
    yp_timer_t **ts = malloc(MILLION * sizeof(*ts));
    cr_assert_not_null(ts);
    unsigned seed = 7;
    for (int i = 0; i < MILLION; i++) {
        seed = seed * 1103515245u + 12345u;
        ts[i] = start(3600.0 + (seed >> 8) % 100000);
    }
    cr_assert_eq(yp__timer_pending(), (size_t)MILLION);
    cr_assert_eq(yp__timer_live(), MILLION);
    /* i -> (i * 7919) mod 10^6 is a permutation (7919 is prime and does
     * not divide 10^6 or 10^5). */
    for (long i = 0; i < MILLION; i++) {
        yp_timer_drop(ts[(i * 7919) % MILLION]);
    }
    free(ts);
}

/* Several threads starting, polling and cancelling at once. */
#define CONC_THREADS 4
#define CONC_ITERS 2000

static void *
conc_main(void *p)
{
    long *failures = p;
    counting_waker_t cw;
    cw_init(&cw);
    yp_context_t cx = cw_context(&cw.base);
    for (int i = 0; i < CONC_ITERS; i++) {
        yp_timer_t *t;
        if (yp_timer_start((i % 5) * 1e-4, &t) != 0) {
            __atomic_fetch_add(failures, 1, __ATOMIC_SEQ_CST);
            continue;
        }
        if (i % 2) {
            long seen = cw_wakes(&cw);
            while (yp_timer_poll(t, &cx) == YP_PENDING) {
                if (!cw_wait_wakes(&cw, seen + 1, SLACK)) {
                    __atomic_fetch_add(failures, 1, __ATOMIC_SEQ_CST);
                    break;
                }
                seen = cw_wakes(&cw);
            }
        }
        else {
            (void)yp_timer_poll(t, &cx);   /* maybe register, then cancel */
        }
        yp_timer_drop(t);
    }
    if (!cw_release(&cw, SLACK)) {
        __atomic_fetch_add(failures, 1, __ATOMIC_SEQ_CST);
    }
    cw_fini(&cw);
    return NULL;
}

YP_UTEST(timer, concurrent_start_poll_drop)
{
    long failures = 0;
    pthread_t th[CONC_THREADS];
    for (int i = 0; i < CONC_THREADS; i++) {
        cr_assert_eq(pthread_create(&th[i], NULL, conc_main, &failures), 0);
    }
    for (int i = 0; i < CONC_THREADS; i++) {
        pthread_join(th[i], NULL);
    }
    cr_assert_eq(failures, 0);
}

/* ---------------------------------------------------------------------
 * Shutdown and restart.
 */
YP_UTEST(timer, shutdown_without_start_is_a_noop)
{
    /* A fresh process (Criterion forks one per test) never started the
     * thread: nothing to stop, nothing to free. */
    yp_timer_shutdown();
    yp_timer_shutdown();
    cr_assert_eq(yp_timer_start(0.0, &(yp_timer_t *){NULL}), YP_ESHUTDOWN);
    yp_timer_restart();
    yp_timer_restart();
    yp_timer_t *t = start(0.0);
    yp_timer_drop(t);
}

YP_UTEST(timer, shutdown_drops_pending_wakers_and_refuses_starts)
{
    counting_waker_t cw, wa;
    cw_init(&cw);
    cw_init(&wa);
    yp_context_t cx = cw_context(&cw.base);
    yp_timer_t *ts[3];
    for (int i = 0; i < 3; i++) {
        ts[i] = start(3600.0);
        cr_assert_eq(yp_timer_poll(ts[i], &cx), YP_PENDING);
        cr_assert_eq(yp_wake_after(&wa.base, 3600.0), 0);
    }
    cr_assert_eq(yp_waker_refcount(&cw.base), 4);
    cr_assert_eq(yp_waker_refcount(&wa.base), 4);
    cr_assert_eq(yp__timer_pending(), 6);

    yp_timer_shutdown();
    cr_assert_eq(yp__timer_pending(), 0);
    cr_assert_eq(yp_waker_refcount(&cw.base), 1, "registered wakers dropped");
    cr_assert_eq(yp_waker_refcount(&wa.base), 1, "wake_after clones dropped");
    cr_assert_eq(cw_wakes(&cw) + cw_wakes(&wa), 0, "nothing was woken");
    cr_assert_eq(yp__timer_live(), 3, "only the user handles remain");

    yp_timer_t *t = NULL;
    cr_assert_eq(yp_timer_start(0.01, &t), YP_ESHUTDOWN);
    cr_assert_null(t);
    cr_assert_eq(yp_wake_after(&wa.base, 0.0), YP_ESHUTDOWN);
    cr_assert_eq(yp_waker_refcount(&wa.base), 1, "refused: no clone kept");
    cr_assert_eq(yp_timer_start(-1.0, &t), YP_EINVAL, "EINVAL still wins");

    /* Old handles stay usable: pending forever, and droppable. */
    cr_assert_eq(yp_timer_poll(ts[0], &cx), YP_PENDING);
    for (int i = 0; i < 3; i++) {
        yp_timer_drop(ts[i]);
    }
    cr_assert_eq(yp_waker_refcount(&cw.base), 1);

    yp_timer_restart();
    t = start(0.01);
    long seen = cw_wakes(&cw);
    if (yp_timer_poll(t, &cx) == YP_PENDING) {
        cr_assert(cw_wait_wakes(&cw, seen + 1, SLACK), "restart: no fire");
    }
    cr_assert_eq(yp_timer_poll(t, &cx), YP_READY);
    yp_timer_drop(t);
    cr_assert_eq(yp_wake_after(&wa.base, 0.0), 0);
    cr_assert(cw_wait_wakes(&wa, 1, SLACK));
    cr_assert_eq(cw_wakes(&wa), 1);
    yp_waker_drop(&wa.base);
    cr_assert(cw_wait_destroyed(&wa, SLACK));
    cr_assert(cw_release(&cw, SLACK));
    cw_fini(&cw);
    cw_fini(&wa);
}

YP_UTEST(timer, shutdown_restart_cycles)
{
    for (int round = 0; round < 20; round++) {
        counting_waker_t cw;
        cw_init(&cw);
        cr_assert_eq(yp_wake_after(&cw.base, 0.0), 0);
        cr_assert(cw_wait_wakes(&cw, 1, SLACK), "round %d", round);
        cr_assert_eq(yp_wake_after(&cw.base, 3600.0), 0);
        yp_timer_shutdown();
        yp_timer_restart();
        /* The clone woken in the first wake_after may still be on its
         * way to the drop; the pending one is dropped by shutdown. */
        yp_waker_drop(&cw.base);
        cr_assert(cw_wait_destroyed(&cw, SLACK));
        cr_assert_eq(cw_wakes(&cw), 1);
        cw_fini(&cw);
    }
}

/* A wake in progress when shutdown is called: shutdown returns only after
 * that batch is finished (it joins the thread). */
typedef struct {
    yp_waker_t base;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int entered, release, finished;     /* mu */
} blocking_waker_t;

static void
blocking_wake(yp_waker_t *w)
{
    blocking_waker_t *b = (blocking_waker_t *)w;
    pthread_mutex_lock(&b->mu);
    b->entered = 1;
    pthread_cond_broadcast(&b->cv);
    while (!b->release) {
        pthread_cond_wait(&b->cv, &b->mu);
    }
    b->finished = 1;
    pthread_mutex_unlock(&b->mu);
}

static void
blocking_destroy(yp_waker_t *w)
{
    (void)w;
}

static const yp_waker_vtable_t blocking_vtable = {blocking_wake,
                                                  blocking_destroy};

static void *
shutdown_main(void *p)
{
    blocking_waker_t *b = p;
    yp_timer_shutdown();
    pthread_mutex_lock(&b->mu);
    int finished = b->finished;
    pthread_mutex_unlock(&b->mu);
    return (void *)(intptr_t)finished;
}

YP_UTEST(timer, shutdown_waits_for_a_wake_in_progress)
{
    static blocking_waker_t b = {
        .mu = PTHREAD_MUTEX_INITIALIZER,
        .cv = PTHREAD_COND_INITIALIZER,
    };
    yp_waker_init(&b.base, &blocking_vtable, NULL);
    cr_assert_eq(yp_wake_after(&b.base, 0.0), 0);
    pthread_mutex_lock(&b.mu);
    while (!b.entered) {
        pthread_cond_wait(&b.cv, &b.mu);
    }
    pthread_mutex_unlock(&b.mu);

    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, shutdown_main, &b), 0);
    /* Not synchronisation: correctness does not depend on this sleep.
     * It only gives a broken shutdown (one that does not wait) the time
     * to return early, so that the assertion below can catch it. */
    nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    pthread_mutex_lock(&b.mu);
    b.release = 1;
    pthread_cond_broadcast(&b.cv);
    pthread_mutex_unlock(&b.mu);
    void *ret;
    pthread_join(th, &ret);
    cr_assert_eq((intptr_t)ret, 1, "shutdown returned during a wake");
    cr_assert_eq(yp_waker_refcount(&b.base), 1);
    yp_timer_restart();
}

/* Shutdown from inside a wake, i.e. on the timer thread itself, must not
 * deadlock (the thread cannot join itself). */
static void
shutdown_wake(yp_waker_t *w)
{
    yp_timer_shutdown();
    cw_wake(w);
}

static const yp_waker_vtable_t shutdown_vtable = {shutdown_wake,
                                                  cw_destroy};

YP_UTEST(timer, shutdown_from_the_timer_thread)
{
    counting_waker_t cw, other;
    cw_init(&cw);
    cw_init(&other);
    cw.base.vtable = &shutdown_vtable;
    cr_assert_eq(yp_wake_after(&other.base, 3600.0), 0);
    cr_assert_eq(yp_wake_after(&cw.base, 0.0), 0);
    cr_assert(cw_wait_wakes(&cw, 1, SLACK));
    cr_assert_eq(yp_waker_refcount(&other.base), 1, "pending dropped");
    cr_assert_eq(yp_wake_after(&other.base, 0.0), YP_ESHUTDOWN);
    yp_timer_restart();
    cr_assert_eq(yp_wake_after(&other.base, 0.0), 0);
    cr_assert(cw_wait_wakes(&other, 1, SLACK));
    yp_waker_drop(&cw.base);
    yp_waker_drop(&other.base);
    cr_assert(cw_wait_destroyed(&cw, SLACK));
    cr_assert(cw_wait_destroyed(&other, SLACK));
    cr_assert_eq(cw_wakes(&other), 1);
    cw_fini(&cw);
    cw_fini(&other);
}

/* fork() after the thread started: the child has no timer thread, and
 * its first timer must start one. */
YP_UTEST(timer, timers_work_in_a_forked_child)
{
    counting_waker_t cw;
    cw_init(&cw);
    cr_assert_eq(yp_wake_after(&cw.base, 0.0), 0);
    cr_assert(cw_wait_wakes(&cw, 1, SLACK));
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* A fresh waker: the parent's timer thread may have held cw's
         * mutex (signalling the wake above) at the moment of the fork. */
        counting_waker_t child;
        cw_init(&child);
        int ok = yp_wake_after(&child.base, 0.0) == 0
                 && cw_wait_wakes(&child, 1, 5 * SLACK);
        _exit(ok ? 0 : 1);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "child status %#x", status);
    /* and the parent still works */
    cr_assert_eq(yp_wake_after(&cw.base, 0.0), 0);
    cr_assert(cw_wait_wakes(&cw, 2, SLACK));
    cr_assert(cw_release(&cw, SLACK));
    cw_fini(&cw);
}
