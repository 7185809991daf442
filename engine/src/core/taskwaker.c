/*
 * taskwaker.c -- the coroutine's task waker: a generic waker (waker.c)
 * with an atomic state machine (internal.h), and a wake-queue link
 * (wakeq.c) for batching foreign-thread wakes.  Depends on both; neither
 * knows it.
 *
 * All state changes are compare-and-swap on one int, so a wake racing
 * with the owner's arm/begin_poll/kill has exactly one winner:
 *  - wake vs arm: either the wake lands first (POLLING->WOKEN, the arm
 *    fails and the coroutine yields None), or the arm lands first
 *    (POLLING->ARMED, the wake then fires the notify).  No wake is lost.
 *  - two wakes vs ARMED: one CAS wins ARMED->FIRED and notifies; the other
 *    sees FIRED and does nothing, so the loop future is resolved once.
 *  - wake vs kill: after DEAD no wake notifies.  A wake that won
 *    ARMED->FIRED just before the kill still notifies; the binding copes
 *    because it re-reads the owner under the GIL, where kill also runs.
 * acq_rel on the CAS: the owner publishes the loop future before ARMED
 * (release), and the notifier reads it after FIRED (acquire).  The same
 * release publishes link.wakeq, which the binding sets before arming.
 */
#include "internal.h"

#include <stdlib.h>

static long live_taskwakers;

void
yp__taskwaker_wake(yp_waker_t *waker)
{
    yp__taskwaker_t *tw = YP__CONTAINER_OF(waker, yp__taskwaker_t, base);
    int s = __atomic_load_n(&tw->state, __ATOMIC_ACQUIRE);
    for (;;) {
        int next;
        switch (s) {
        case YP__TW_POLLING:
            next = YP__TW_WOKEN;
            break;
        case YP__TW_ARMED:
            next = YP__TW_FIRED;
            break;
        default:
            /* WOKEN, FIRED: already pending a poll.  DEAD: gone. */
            return;
        }
        if (__atomic_compare_exchange_n(&tw->state, &s, next, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            if (next == YP__TW_FIRED && !YP_FAULT(WAKER_IGNORED)) {
                tw->notify(tw);
            }
            return;
        }
        /* Lost a race; s now holds the fresh state. */
    }
}

void
yp__taskwaker_release(yp__taskwaker_t *tw)
{
    yp__wakeq_link_release(&tw->link);
}

static void
taskwaker_destroy(yp_waker_t *waker)
{
    yp__taskwaker_t *tw = YP__CONTAINER_OF(waker, yp__taskwaker_t, base);
    __atomic_fetch_sub(&live_taskwakers, 1, __ATOMIC_RELAXED);
    yp__taskwaker_release(tw);
    if (YP_FAULT(HEAP_LEAK)) {
        return;   /* the block is never freed */
    }
    free(tw);
}

static const yp_waker_vtable_t taskwaker_vtable = {
    .wake = yp__taskwaker_wake,
    .destroy = taskwaker_destroy,
};

void
yp__taskwaker_init(yp__taskwaker_t *tw, const yp_waker_vtable_t *vtable,
                   yp__notify_fn notify, void *owner)
{
    yp_waker_init(&tw->base, vtable, owner);
    tw->notify = notify;
    yp__wakeq_link_init(&tw->link, &tw->base);
    __atomic_store_n(&tw->state, YP__TW_POLLING, __ATOMIC_RELAXED);
}

yp__taskwaker_t *
yp__taskwaker_new(yp__notify_fn notify, void *owner)
{
    yp__taskwaker_t *tw = malloc(sizeof(*tw));
    if (tw == NULL) {
        return NULL;
    }
    if (YP_FAULT(OOB_WRITE)) {
        ((volatile char *)tw)[sizeof(*tw)] = 1;   /* one byte past */
    }
    yp__taskwaker_init(tw, &taskwaker_vtable, notify, owner);
    /* Counted here, not in init: the embedded ones live and die with
     * their owner, and the count is for the tests of the heap form. */
    __atomic_fetch_add(&live_taskwakers, 1, __ATOMIC_RELAXED);
    return tw;
}

void
yp__taskwaker_begin_poll(yp__taskwaker_t *tw)
{
    int s = __atomic_load_n(&tw->state, __ATOMIC_ACQUIRE);
    /* The common case (a future that never kept the waker, or one that
     * was polled and not woken) needs no read-modify-write: POLLING is
     * only ever left by this thread's arm or by a wake, and a wake landing
     * right after this load finds POLLING -> WOKEN, which is what it would
     * have found after the CAS too. */
    if (s == YP__TW_POLLING) {
        return;
    }
    while (s != YP__TW_DEAD) {
        if (__atomic_compare_exchange_n(&tw->state, &s, YP__TW_POLLING, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            return;
        }
    }
}

yp__tw_state_t
yp__taskwaker_arm(yp__taskwaker_t *tw)
{
    int expected = YP__TW_POLLING;
    if (__atomic_compare_exchange_n(&tw->state, &expected, YP__TW_ARMED, 0,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        return YP__TW_ARMED;
    }
    return (yp__tw_state_t)expected;
}

void
yp__taskwaker_stop(yp__taskwaker_t *tw)
{
    __atomic_store_n(&tw->state, YP__TW_DEAD, __ATOMIC_RELEASE);
}

void
yp__taskwaker_kill(yp__taskwaker_t *tw)
{
    yp__taskwaker_stop(tw);
    yp_waker_drop(&tw->base);
}

int
yp__taskwaker_sole(const yp__taskwaker_t *tw)
{
    /* Acquire pairs with the release decrement of whichever thread
     * dropped the last other reference: its writes to the waker (the
     * queue link) happen-before the caller reuses or frees the memory.
     * The count cannot rise from 1 behind our back: only a holder of a
     * reference can clone, and the caller holds the only one. */
    return __atomic_load_n(&tw->base.refcnt, __ATOMIC_ACQUIRE) == 1;
}

yp__tw_state_t
yp__taskwaker_state(const yp__taskwaker_t *tw)
{
    return (yp__tw_state_t)__atomic_load_n(&tw->state, __ATOMIC_ACQUIRE);
}

long
yp__taskwaker_live(void)
{
    return __atomic_load_n(&live_taskwakers, __ATOMIC_RELAXED);
}

const char *
yp__tw_state_name(yp__tw_state_t s)
{
    static const char *const names[] = {
        [YP__TW_POLLING] = "POLLING", [YP__TW_WOKEN] = "WOKEN",
        [YP__TW_ARMED] = "ARMED",     [YP__TW_FIRED] = "FIRED",
        [YP__TW_DEAD] = "DEAD",
    };
    return (unsigned)s < YP__ARRAY_SIZE(names) ? names[s] : "?";
}
