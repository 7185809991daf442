/*
 * wakeq.c -- batching foreign-thread wakes for one event loop.
 *
 * Why: a wake from a thread that is not the loop's must get the loop to
 * poll again, and the only thread-safe door into an asyncio loop is
 * call_soon_threadsafe, which needs the GIL and writes the loop's
 * self-pipe.  Doing that per wake costs a GIL round trip and a syscall
 * each time.  Instead, wakes are pushed here without any lock; the push
 * that finds the queue empty schedules one drain, and everything pushed
 * before the drain runs is delivered by it.
 *
 * Layering: the queue holds links (internal.h), each embedded next to a
 * generic waker; it uses only the generic waker API (waker.c) to take
 * and describe the list's references.  The task waker embeds a link and
 * calls in here; nothing here calls the task waker.
 *
 * Memory ordering: push is a release CAS on head (publishing the link's
 * fields and its `next`), take is an acquire exchange, so the consumer
 * sees every pushed link fully.  `queued` keeps a link on the list at
 * most once: a waker can be re-armed and fired again (after a throw
 * polls it) while its first push is still waiting for the drain, and an
 * intrusive list cannot hold the same node twice.
 */
#include "internal.h"

#include <stdlib.h>

static long live_wakeqs;

yp__wakeq_t *
yp__wakeq_new(void *owner)
{
    yp__wakeq_t *q = malloc(sizeof(*q));
    if (q == NULL) {
        return NULL;
    }
    if (YP_FAULT(OOB_WRITE)) {
        /* malloc's own block, which Valgrind sees exactly: the coroutine's
         * write (coroutine.c) lands in the debug hooks' pad bytes under
         * PYTHONMALLOC=malloc_debug, where memcheck cannot see it. */
        ((volatile char *)q)[sizeof(*q)] = 1;   /* one byte past */
    }
    q->head = NULL;
    q->refcnt = 1;
    q->owner = owner;
    __atomic_fetch_add(&live_wakeqs, 1, __ATOMIC_RELAXED);
    return q;
}

void
yp__wakeq_incref(yp__wakeq_t *q)
{
    __atomic_fetch_add(&q->refcnt, 1, __ATOMIC_RELAXED);
}

void
yp__wakeq_decref(yp__wakeq_t *q)
{
    if (__atomic_sub_fetch(&q->refcnt, 1, __ATOMIC_ACQ_REL) == 0) {
        /* Nothing can be queued: a queued link's waker is alive (the
         * list holds a reference to it), and so is the queue reference
         * its link took in yp__wakeq_bind. */
        __atomic_fetch_sub(&live_wakeqs, 1, __ATOMIC_RELAXED);
        free(q);
    }
}

void
yp__wakeq_link_init(yp__wakeq_link_t *link, yp_waker_t *waker)
{
    link->waker = waker;
    link->wakeq = NULL;
    link->loop_thread = 0;
    link->queued = 0;
    link->next = NULL;
}

void
yp__wakeq_bind(yp__wakeq_link_t *link, yp__wakeq_t *q)
{
    if (link->wakeq != NULL) {
        return;   /* bound for life */
    }
    yp__wakeq_incref(q);
    /* A plain store: the waker's arm (a release CAS) publishes it to the
     * thread that later wins ARMED->FIRED and reads it. */
    link->wakeq = q;
}

void
yp__wakeq_link_release(yp__wakeq_link_t *link)
{
    if (link->wakeq != NULL) {
        yp__wakeq_decref(link->wakeq);
        link->wakeq = NULL;
    }
}

int
yp__wakeq_push(yp__wakeq_t *q, yp__wakeq_link_t *link)
{
    if (__atomic_exchange_n(&link->queued, 1, __ATOMIC_ACQ_REL)) {
        return 0;   /* already waiting for a drain, which will see it */
    }
    (void)yp_waker_clone(link->waker);   /* the list's reference */
    yp__wakeq_link_t *old = __atomic_load_n(&q->head, __ATOMIC_RELAXED);
    do {
        link->next = old;
    } while (!__atomic_compare_exchange_n(&q->head, &old, link, 1,
                                          __ATOMIC_RELEASE,
                                          __ATOMIC_RELAXED));
    return old == NULL;
}

yp__wakeq_link_t *
yp__wakeq_take(yp__wakeq_t *q)
{
    yp__wakeq_link_t *lifo = __atomic_exchange_n(&q->head, NULL,
                                                 __ATOMIC_ACQUIRE);
    /* Reverse to oldest-first, so tasks resume in the order they were
     * woken.  `queued` stays set: see yp__wakeq_next. */
    yp__wakeq_link_t *fifo = NULL;
    while (lifo != NULL) {
        yp__wakeq_link_t *next = lifo->next;
        lifo->next = fifo;
        fifo = lifo;
        lifo = next;
    }
    return fifo;
}

yp__wakeq_link_t *
yp__wakeq_next(yp__wakeq_link_t *link)
{
    /* Read the link before clearing `queued`: from that moment another
     * thread may push this waker again, which rewrites link->next. */
    yp__wakeq_link_t *next = link->next;
    __atomic_store_n(&link->queued, 0, __ATOMIC_RELEASE);
    return next;
}

long
yp__wakeq_live(void)
{
    return __atomic_load_n(&live_wakeqs, __ATOMIC_RELAXED);
}
