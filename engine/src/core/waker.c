/*
 * waker.c -- reference-counted wakers and the coroutine's task waker.
 *
 * Memory ordering: the reference count follows the classic Arc recipe.
 * Increments are relaxed (a thread can only clone a waker it already holds
 * a reference to, so the object cannot vanish under it); decrements are
 * release, and the thread that drops the last reference issues an acquire
 * fence before destroy, so every write made through other references
 * happens-before the free.
 */
#include "internal.h"

#include <stdlib.h>

void
yp_waker_init(yp_waker_t *waker, const yp_waker_vtable_t *vtable, void *data)
{
    waker->data = data;
    waker->vtable = vtable;
    __atomic_store_n(&waker->refcnt, 1, __ATOMIC_RELAXED);
}

/* The noop waker is static: its count is never touched, so it can be
 * shared by every thread without contention and is never destroyed. */
static void
noop_wake(yp_waker_t *waker)
{
    (void)waker;
}

static const yp_waker_vtable_t noop_vtable = {
    .wake = noop_wake,
    .destroy = NULL,
};

static yp_waker_t noop_waker = {
    .data = NULL,
    .vtable = &noop_vtable,
    .refcnt = 1,
};

yp_waker_t *
yp_waker_noop(void)
{
    return &noop_waker;
}

yp_waker_t *
yp_waker_clone(yp_waker_t *waker)
{
    if (waker->vtable->clone != NULL) {
        return waker->vtable->clone(waker);
    }
    if (waker != &noop_waker) {
        __atomic_fetch_add(&waker->refcnt, 1, __ATOMIC_RELAXED);
    }
    return waker;
}

void
yp_waker_drop(yp_waker_t *waker)
{
    if (waker == NULL || waker == &noop_waker) {
        return;
    }
    size_t old;
    if (YP_FAULT(WAKER_DOUBLE_FREE)) {
        /* A plain read-modify-write instead of an atomic one, which
         * ThreadSanitizer reports as a data race and which loses counts
         * (double free) under contention. */
        old = waker->refcnt;
        waker->refcnt = old - 1;
    }
    else {
        old = __atomic_fetch_sub(&waker->refcnt, 1, __ATOMIC_RELEASE);
    }
    if (old == 1) {
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        waker->vtable->destroy(waker);
    }
}

void
yp_waker_wake_by_ref(yp_waker_t *waker)
{
    waker->vtable->wake(waker);
}

void
yp_waker_wake(yp_waker_t *waker)
{
    waker->vtable->wake(waker);
    yp_waker_drop(waker);
}

int
yp_waker_will_wake(const yp_waker_t *a, const yp_waker_t *b)
{
    /* Same object => same task.  Distinct objects may still wake the
     * same task; returning 0 then is the allowed false negative. */
    return a != NULL && a == b;
}

size_t
yp_waker_refcount(const yp_waker_t *waker)
{
    return __atomic_load_n(&waker->refcnt, __ATOMIC_RELAXED);
}

void
yp_waker_register(yp_waker_t **slot, yp_waker_t *waker)
{
    if (yp_waker_will_wake(*slot, waker)) {
        return;
    }
    yp_waker_t *old = *slot;
    *slot = yp_waker_clone(waker);
    yp_waker_drop(old);
}

yp_waker_t *
yp_context_waker(const yp_context_t *cx)
{
    return cx->waker;
}

/* ---------------------------------------------------------------------
 * Task waker.
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
 * (release), and the notifier reads it after FIRED (acquire).
 */
static long live_taskwakers;

static void
taskwaker_wake(yp_waker_t *waker)
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

static void
taskwaker_destroy(yp_waker_t *waker)
{
    yp__taskwaker_t *tw = YP__CONTAINER_OF(waker, yp__taskwaker_t, base);
    __atomic_fetch_sub(&live_taskwakers, 1, __ATOMIC_RELAXED);
    if (tw->wakeq != NULL) {
        yp__wakeq_decref(tw->wakeq);
    }
    if (YP_FAULT(HEAP_LEAK)) {
        return;   /* the block is never freed */
    }
    free(tw);
}

static const yp_waker_vtable_t taskwaker_vtable = {
    .wake = taskwaker_wake,
    .destroy = taskwaker_destroy,
};

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
    yp_waker_init(&tw->base, &taskwaker_vtable, owner);
    tw->notify = notify;
    tw->wakeq = NULL;
    tw->loop_thread = 0;
    tw->queued = 0;
    tw->next = NULL;
    __atomic_store_n(&tw->state, YP__TW_POLLING, __ATOMIC_RELAXED);
    __atomic_fetch_add(&live_taskwakers, 1, __ATOMIC_RELAXED);
    return tw;
}

void
yp__taskwaker_begin_poll(yp__taskwaker_t *tw)
{
    int s = __atomic_load_n(&tw->state, __ATOMIC_ACQUIRE);
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
yp__taskwaker_kill(yp__taskwaker_t *tw)
{
    __atomic_store_n(&tw->state, YP__TW_DEAD, __ATOMIC_RELEASE);
    yp_waker_drop(&tw->base);
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
