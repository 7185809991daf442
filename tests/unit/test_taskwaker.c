/* test_taskwaker.c -- the yp__taskwaker state machine (internal.h):
 * every transition of the diagram, wake coalescing, and the wake/arm and
 * wake/kill races. */
#include <criterion/criterion.h>

#include "helpers.h"

TestSuite(taskwaker, .timeout = 120);

static long notifies;   /* atomic */
static yp__taskwaker_t *last_notified;  /* atomic */

static void
count_notify(yp__taskwaker_t *tw)
{
    __atomic_store_n(&last_notified, tw, __ATOMIC_SEQ_CST);
    __atomic_fetch_add(&notifies, 1, __ATOMIC_SEQ_CST);
}

static long
n_notifies(void)
{
    return __atomic_load_n(&notifies, __ATOMIC_SEQ_CST);
}

static int owner;   /* its address is the owner */

static yp__taskwaker_t *
new_tw(void)
{
    yp__taskwaker_t *tw = yp__taskwaker_new(count_notify, &owner);
    cr_assert_not_null(tw);
    return tw;
}

static void
wake(yp__taskwaker_t *tw)
{
    yp_waker_wake_by_ref(&tw->base);
}

#define cr_assert_state(tw, s)                                            \
    cr_assert_eq(yp__taskwaker_state(tw), (s), "state %s, expected %s",  \
                 yp__tw_state_name(yp__taskwaker_state(tw)),              \
                 yp__tw_state_name(s))

YP_UTEST(taskwaker, new_is_polling_with_one_reference)
{
    cr_assert_eq(yp__taskwaker_live(), 0);
    yp__taskwaker_t *tw = new_tw();
    cr_assert_state(tw, YP__TW_POLLING);
    cr_assert_eq(tw->base.data, &owner);
    cr_assert_eq(yp_waker_refcount(&tw->base), 1);
    cr_assert_eq(yp__taskwaker_live(), 1);
    yp__taskwaker_kill(tw);
    cr_assert_eq(yp__taskwaker_live(), 0);
}

YP_UTEST(taskwaker, polling_wake_woken_no_notify)
{
    yp__taskwaker_t *tw = new_tw();
    wake(tw);
    cr_assert_state(tw, YP__TW_WOKEN);
    cr_assert_eq(n_notifies(), 0, "a wake during the poll never notifies");
    /* WOKEN --wake--> WOKEN */
    wake(tw);
    wake(tw);
    cr_assert_state(tw, YP__TW_WOKEN);
    cr_assert_eq(n_notifies(), 0);
    /* arm after a wake reports WOKEN and arms nothing */
    cr_assert_eq(yp__taskwaker_arm(tw), YP__TW_WOKEN);
    cr_assert_state(tw, YP__TW_WOKEN);
    wake(tw);
    cr_assert_eq(n_notifies(), 0);
    yp__taskwaker_kill(tw);
}

YP_UTEST(taskwaker, polling_arm_armed_then_wake_fires_once)
{
    yp__taskwaker_t *tw = new_tw();
    cr_assert_eq(yp__taskwaker_arm(tw), YP__TW_ARMED);
    cr_assert_state(tw, YP__TW_ARMED);
    cr_assert_eq(n_notifies(), 0, "arming alone never notifies");
    wake(tw);
    cr_assert_state(tw, YP__TW_FIRED);
    cr_assert_eq(n_notifies(), 1);
    cr_assert_eq(__atomic_load_n(&last_notified, __ATOMIC_SEQ_CST), tw);
    /* FIRED --wake--> FIRED */
    wake(tw);
    wake(tw);
    cr_assert_state(tw, YP__TW_FIRED);
    cr_assert_eq(n_notifies(), 1);
    yp__taskwaker_kill(tw);
}

YP_UTEST(taskwaker, arm_outside_polling_changes_nothing)
{
    yp__taskwaker_t *tw = new_tw();
    cr_assert_eq(yp__taskwaker_arm(tw), YP__TW_ARMED);
    cr_assert_eq(yp__taskwaker_arm(tw), YP__TW_ARMED, "ARMED stays");
    cr_assert_state(tw, YP__TW_ARMED);
    wake(tw);
    cr_assert_eq(yp__taskwaker_arm(tw), YP__TW_FIRED, "FIRED stays");
    cr_assert_state(tw, YP__TW_FIRED);
    cr_assert_eq(n_notifies(), 1);
    yp__taskwaker_kill(tw);
}

YP_UTEST(taskwaker, begin_poll_from_every_live_state)
{
    yp__taskwaker_t *tw = new_tw();
    /* POLLING -> POLLING */
    yp__taskwaker_begin_poll(tw);
    cr_assert_state(tw, YP__TW_POLLING);
    /* WOKEN -> POLLING */
    wake(tw);
    yp__taskwaker_begin_poll(tw);
    cr_assert_state(tw, YP__TW_POLLING);
    /* ARMED -> POLLING (a poll without a wake, e.g. a spurious one) */
    yp__taskwaker_arm(tw);
    yp__taskwaker_begin_poll(tw);
    cr_assert_state(tw, YP__TW_POLLING);
    /* ...and that arming is over: a wake now does not notify */
    wake(tw);
    cr_assert_eq(n_notifies(), 0);
    /* FIRED -> POLLING */
    yp__taskwaker_begin_poll(tw);
    yp__taskwaker_arm(tw);
    wake(tw);
    cr_assert_eq(n_notifies(), 1);
    yp__taskwaker_begin_poll(tw);
    cr_assert_state(tw, YP__TW_POLLING);
    yp__taskwaker_kill(tw);
}

YP_UTEST(taskwaker, one_notify_per_arming)
{
    yp__taskwaker_t *tw = new_tw();
    for (int round = 1; round <= 100; round++) {
        yp__taskwaker_begin_poll(tw);
        cr_assert_eq(yp__taskwaker_arm(tw), YP__TW_ARMED);
        for (int i = 0; i < 10; i++) {
            wake(tw);
        }
        cr_assert_eq(n_notifies(), round);
    }
    yp__taskwaker_kill(tw);
}

/* kill from every state: DEAD, wakes are no-ops, begin_poll and arm
 * cannot revive it, and the owner's reference is gone. */
static void
kill_from(yp__tw_state_t from)
{
    yp__taskwaker_t *tw = new_tw();
    switch (from) {
    case YP__TW_POLLING:
        break;
    case YP__TW_WOKEN:
        wake(tw);
        break;
    case YP__TW_ARMED:
        yp__taskwaker_arm(tw);
        break;
    case YP__TW_FIRED:
        yp__taskwaker_arm(tw);
        wake(tw);
        break;
    default:
        cr_assert_fail("bad state");
    }
    cr_assert_state(tw, from);
    long before = n_notifies();
    /* A leaked clone keeps the object alive past the kill. */
    yp_waker_t *leaked = yp_waker_clone(&tw->base);
    yp__taskwaker_kill(tw);
    cr_assert_state(tw, YP__TW_DEAD);
    cr_assert_eq(yp_waker_refcount(leaked), 1, "kill drops the owner's");
    cr_assert_eq(yp__taskwaker_live(), 1);
    wake(tw);
    yp__taskwaker_begin_poll(tw);
    cr_assert_state(tw, YP__TW_DEAD);
    cr_assert_eq(yp__taskwaker_arm(tw), YP__TW_DEAD);
    wake(tw);
    cr_assert_state(tw, YP__TW_DEAD);
    cr_assert_eq(n_notifies(), before, "no notify after kill");
    yp_waker_wake(leaked);      /* the last reference: wake then free */
    cr_assert_eq(n_notifies(), before);
    cr_assert_eq(yp__taskwaker_live(), 0);
}

YP_UTEST(taskwaker, kill_from_polling) { kill_from(YP__TW_POLLING); }
YP_UTEST(taskwaker, kill_from_woken) { kill_from(YP__TW_WOKEN); }
YP_UTEST(taskwaker, kill_from_armed) { kill_from(YP__TW_ARMED); }
YP_UTEST(taskwaker, kill_from_fired) { kill_from(YP__TW_FIRED); }

YP_UTEST(taskwaker, state_names)
{
    cr_assert_str_eq(yp__tw_state_name(YP__TW_POLLING), "POLLING");
    cr_assert_str_eq(yp__tw_state_name(YP__TW_WOKEN), "WOKEN");
    cr_assert_str_eq(yp__tw_state_name(YP__TW_ARMED), "ARMED");
    cr_assert_str_eq(yp__tw_state_name(YP__TW_FIRED), "FIRED");
    cr_assert_str_eq(yp__tw_state_name(YP__TW_DEAD), "DEAD");
    cr_assert_str_eq(yp__tw_state_name((yp__tw_state_t)99), "?");
    cr_assert_str_eq(yp__tw_state_name((yp__tw_state_t)-1), "?");
}

YP_UTEST(taskwaker, live_counter_tracks_clones)
{
    yp__taskwaker_t *a = new_tw();
    yp__taskwaker_t *b = new_tw();
    cr_assert_eq(yp__taskwaker_live(), 2);
    yp_waker_t *c = yp_waker_clone(&a->base);
    yp__taskwaker_kill(a);
    cr_assert_eq(yp__taskwaker_live(), 2, "a clone keeps it alive");
    yp_waker_drop(c);
    cr_assert_eq(yp__taskwaker_live(), 1);
    yp__taskwaker_kill(b);
    cr_assert_eq(yp__taskwaker_live(), 0);
}

/* ---------------------------------------------------------------------
 * Races.  A persistent pool of wakers and the main thread meet at a
 * barrier each round, then race; a second barrier ends the round so the
 * main thread can check the outcome with everything quiet.
 */
#define RACE_ROUNDS yp_test_scaled(20000)
#define MAX_WAKERS 4

typedef struct {
    pthread_barrier_t start, end;
    yp__taskwaker_t *tw;        /* this round's; set before `start` */
    int wakes_per_thread;
    int rounds;
} race_t;

static void *
race_waker_main(void *p)
{
    race_t *r = p;
    for (int i = 0; i < r->rounds; i++) {
        pthread_barrier_wait(&r->start);
        for (int k = 0; k < r->wakes_per_thread; k++) {
            wake(r->tw);
        }
        pthread_barrier_wait(&r->end);
    }
    return NULL;
}

static void
start_wakers(race_t *r, pthread_t *th, int n, int wakes_per_thread)
{
    pthread_barrier_init(&r->start, NULL, n + 1);
    pthread_barrier_init(&r->end, NULL, n + 1);
    r->wakes_per_thread = wakes_per_thread;
    r->rounds = RACE_ROUNDS;
    for (int i = 0; i < n; i++) {
        cr_assert_eq(pthread_create(&th[i], NULL, race_waker_main, r), 0);
    }
}

static void
join_wakers(race_t *r, pthread_t *th, int n)
{
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
    }
    pthread_barrier_destroy(&r->start);
    pthread_barrier_destroy(&r->end);
}

/* Two threads wake while the owner arms.  Exactly one of:
 *  - a wake landed first: arm returns WOKEN, nothing is notified (the
 *    coroutine yields and is polled again: the wake was not lost);
 *  - arm landed first: exactly one notify, final state FIRED. */
YP_UTEST(taskwaker, race_wake_vs_arm)
{
    race_t r;
    pthread_t th[2];
    yp__taskwaker_t *tw = new_tw();
    r.tw = tw;
    start_wakers(&r, th, 2, 1);
    long armed = 0, woken = 0;
    for (int i = 0; i < RACE_ROUNDS; i++) {
        yp__taskwaker_begin_poll(tw);
        long before = n_notifies();
        pthread_barrier_wait(&r.start);
        yp__tw_state_t got = yp__taskwaker_arm(tw);
        pthread_barrier_wait(&r.end);
        long delta = n_notifies() - before;
        if (got == YP__TW_ARMED) {
            armed++;
            cr_assert_eq(delta, 1, "round %d: armed, %ld notifies", i, delta);
            cr_assert_state(tw, YP__TW_FIRED);
        }
        else {
            woken++;
            cr_assert_eq(got, YP__TW_WOKEN, "round %d: arm gave %s", i,
                         yp__tw_state_name(got));
            cr_assert_eq(delta, 0, "round %d: woken, %ld notifies", i,
                         delta);
            cr_assert_state(tw, YP__TW_WOKEN);
        }
    }
    join_wakers(&r, th, 2);
    cr_assert_eq(armed + woken, RACE_ROUNDS);
    cr_log_info("wake vs arm: %ld armed first, %ld woken first", armed,
                woken);
    yp__taskwaker_kill(tw);
    cr_assert_eq(yp__taskwaker_live(), 0);
}

/* Coalescing under contention: armed first, then MAX_WAKERS threads wake
 * N times each at once: exactly one notify per arming. */
YP_UTEST(taskwaker, race_many_wakes_one_notify)
{
    race_t r;
    pthread_t th[MAX_WAKERS];
    yp__taskwaker_t *tw = new_tw();
    r.tw = tw;
    start_wakers(&r, th, MAX_WAKERS, 8);
    for (int i = 0; i < RACE_ROUNDS; i++) {
        yp__taskwaker_begin_poll(tw);
        cr_assert_eq(yp__taskwaker_arm(tw), YP__TW_ARMED);
        long before = n_notifies();
        pthread_barrier_wait(&r.start);
        pthread_barrier_wait(&r.end);
        cr_assert_eq(n_notifies() - before, 1, "round %d", i);
        cr_assert_state(tw, YP__TW_FIRED);
    }
    join_wakers(&r, th, MAX_WAKERS);
    yp__taskwaker_kill(tw);
    cr_assert_eq(yp__taskwaker_live(), 0);
}

/* Wake vs kill on a fresh, armed waker each round.  At most one notify
 * (a wake that won ARMED->FIRED before the kill), none after the kill,
 * and the waker is freed by whoever drops last. */
YP_UTEST(taskwaker, race_wake_vs_kill)
{
    race_t r;
    pthread_t th[2];
    start_wakers(&r, th, 2, 3);
    long fired = 0;
    for (int i = 0; i < RACE_ROUNDS; i++) {
        yp__taskwaker_t *tw = new_tw();
        /* The waking threads' reference: released after the round. */
        yp_waker_t *theirs = yp_waker_clone(&tw->base);
        cr_assert_eq(yp__taskwaker_arm(tw), YP__TW_ARMED);
        r.tw = tw;
        long before = n_notifies();
        pthread_barrier_wait(&r.start);
        yp__taskwaker_kill(tw);
        pthread_barrier_wait(&r.end);
        long delta = n_notifies() - before;
        cr_assert(delta == 0 || delta == 1, "round %d: %ld notifies", i,
                  delta);
        fired += delta;
        cr_assert_state(tw, YP__TW_DEAD);
        wake(tw);
        cr_assert_eq(n_notifies() - before, delta, "wake after kill");
        yp_waker_drop(theirs);
    }
    join_wakers(&r, th, 2);
    cr_log_info("wake vs kill: %ld of %ld fired before the kill", fired,
                RACE_ROUNDS);
    cr_assert_eq(yp__taskwaker_live(), 0);
}
