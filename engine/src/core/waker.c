/*
 * waker.c -- the generic reference-counted waker (core.h), and the one
 * way to register a waker in a slot a mutex guards.  The task waker and
 * the wake queue build on this file (taskwaker.c, wakeq.c); it knows
 * neither.
 *
 * Memory ordering: the reference count follows the classic Arc recipe.
 * Increments are relaxed (a thread can only clone a waker it already holds
 * a reference to, so the object cannot vanish under it); decrements are
 * release, and the thread that drops the last reference issues an acquire
 * fence before destroy, so every write made through other references
 * happens-before the free.
 */
#include "internal.h"

#include <pthread.h>

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
        /* Release: this holder's writes to the waker happen-before its
         * destruction.  Acquire, for the last one: everyone else's writes
         * (a wake queue's link, say) happen-before destroy.  acq_rel on
         * the RMW rather than release plus an acquire fence when old == 1:
         * the same order, and ThreadSanitizer does not model fences (it
         * reported destroy racing with a drain's earlier write).  On x86
         * the instruction is the same lock xadd. */
        old = __atomic_fetch_sub(&waker->refcnt, 1, __ATOMIC_ACQ_REL);
    }
    if (old == 1) {
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
 * Registering under a lock (internal.h has the caller's pattern).
 *
 * Lock order: the caller's mutex is never held across yp_waker_clone or
 * yp_waker_drop, because a vtable's clone, wake or destroy may take the
 * GIL while the GIL's holder waits for that mutex.  So a clone is made
 * with the mutex released, and the caller re-checks its state after we
 * lock again: the other side may have finished meanwhile (then the clone
 * is not needed and yp__waker_reg_finish drops it, unlocked).  What the
 * slot held before is moved out into reg->stale, also dropped unlocked.
 */
int
yp__waker_register_locked(yp__waker_reg_t *reg, yp_waker_t **slot,
                          yp_waker_t *w, pthread_mutex_t *lock)
{
    if (yp_waker_will_wake(*slot, w)) {
        return 1;
    }
    if (reg->fresh != NULL) {
        /* reg->stale is NULL here: callers only fill it on a path that
         * leaves their loop without calling us again. */
        reg->stale = *slot;
        *slot = reg->fresh;
        reg->fresh = NULL;
        return 1;
    }
    yp__mutex_unlock(lock);
    reg->fresh = yp_waker_clone(w);
    yp__mutex_lock(lock);
    return 0;
}

void
yp__waker_reg_finish(yp__waker_reg_t *reg)
{
    yp_waker_drop(reg->stale);
    yp_waker_drop(reg->fresh);   /* NULL unless the state changed under us */
    reg->stale = NULL;
    reg->fresh = NULL;
}
