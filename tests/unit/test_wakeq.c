/* test_wakeq.c -- the wake queue (internal.h, wakeq.c): a lock-free
 * multi-producer, single-consumer queue of waker links.  Single-thread
 * semantics first (who must schedule the drain, order, at most once on the
 * list, the list's references, the queue's own count), then producers on
 * several threads against one consumer.  Run under TSan by ci/gate-tsan. */
#include "helpers.h"

TestSuite(wakeq, .timeout = 120);

/* A counting waker with its queue link, as a task waker embeds one. */
typedef struct {
    counting_waker_t cw;
    yp__wakeq_link_t link;
    int want;                   /* atomic: pushed, not delivered since */
    long delivered;             /* consumer only */
    long batch;                 /* consumer only: last batch that saw it */
} qwaker_t;

static void
qw_init(qwaker_t *w)
{
    cw_init(&w->cw);
    yp__wakeq_link_init(&w->link, &w->cw.base);
    w->want = 0;
    w->delivered = 0;
    w->batch = -1;
}

static qwaker_t *
qw_of(yp__wakeq_link_t *link)
{
    return YP__CONTAINER_OF(link, qwaker_t, link);
}

YP_UTEST(wakeq, new_is_empty_and_counted)
{
    cr_assert_eq(yp__wakeq_live(), 0);
    int owner;
    yp__wakeq_t *q = yp__wakeq_new(&owner);
    cr_assert_not_null(q);
    cr_assert_eq(q->owner, &owner);
    cr_assert_eq(yp__wakeq_live(), 1);
    cr_assert_null(yp__wakeq_take(q), "a new queue is empty");
    yp__wakeq_decref(q);
    cr_assert_eq(yp__wakeq_live(), 0);
}

YP_UTEST(wakeq, first_push_schedules_then_oldest_first)
{
    yp__wakeq_t *q = yp__wakeq_new(NULL);
    qwaker_t w[3];
    for (int i = 0; i < 3; i++) {
        qw_init(&w[i]);
    }
    cr_assert_eq(yp__wakeq_push(q, &w[0].link), 1,
                 "the push that makes the queue non-empty schedules");
    cr_assert_eq(yp__wakeq_push(q, &w[1].link), 0, "rides along");
    cr_assert_eq(yp__wakeq_push(q, &w[2].link), 0, "rides along");
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(yp_waker_refcount(&w[i].cw.base), 2,
                     "the list holds a reference to waker %d", i);
    }
    yp__wakeq_link_t *l = yp__wakeq_take(q);
    cr_assert_null(yp__wakeq_take(q), "take empties the queue");
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(l, &w[i].link, "delivery %d in push order", i);
        yp__wakeq_link_t *next = yp__wakeq_next(l);
        yp_waker_drop(l->waker);
        l = next;
    }
    cr_assert_null(l);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(yp_waker_refcount(&w[i].cw.base), 1);
        cr_assert_eq(cw_wakes(&w[i].cw), 0, "the queue never wakes");
    }
    cr_assert_eq(yp__wakeq_push(q, &w[1].link), 1,
                 "empty again: the next push schedules again");
    l = yp__wakeq_take(q);
    cr_assert_eq(l, &w[1].link);
    cr_assert_null(yp__wakeq_next(l));
    yp_waker_drop(l->waker);
    for (int i = 0; i < 3; i++) {
        yp_waker_drop(&w[i].cw.base);
        cr_assert_eq(cw_destroys(&w[i].cw), 1);
        cw_fini(&w[i].cw);
    }
    yp__wakeq_decref(q);
}

YP_UTEST(wakeq, a_queued_link_is_queued_once)
{
    yp__wakeq_t *q = yp__wakeq_new(NULL);
    qwaker_t w;
    qw_init(&w);
    cr_assert_eq(yp__wakeq_push(q, &w.link), 1);
    cr_assert_eq(yp__wakeq_push(q, &w.link), 0, "already queued");
    cr_assert_eq(yp_waker_refcount(&w.cw.base), 2,
                 "a second push takes no second reference");
    yp__wakeq_link_t *l = yp__wakeq_take(q);
    cr_assert_eq(l, &w.link);
    /* Until next() lets it go, the taken link still counts as queued: a
     * push now must not relink it while the consumer walks the list. */
    cr_assert_eq(yp__wakeq_push(q, &w.link), 0, "still being walked");
    cr_assert_null(yp__wakeq_take(q), "and it did not relink");
    cr_assert_null(yp__wakeq_next(l));
    cr_assert_eq(yp__wakeq_push(q, &w.link), 1, "free to queue again");
    cr_assert_eq(yp_waker_refcount(&w.cw.base), 3,
                 "the walked entry's reference is still the consumer's");
    yp_waker_drop(l->waker);
    l = yp__wakeq_take(q);
    cr_assert_eq(l, &w.link);
    cr_assert_null(yp__wakeq_next(l));
    yp_waker_drop(l->waker);
    yp_waker_drop(&w.cw.base);
    cr_assert_eq(cw_destroys(&w.cw), 1);
    cw_fini(&w.cw);
    yp__wakeq_decref(q);
}

YP_UTEST(wakeq, bind_holds_the_queue_until_release)
{
    yp__wakeq_t *q = yp__wakeq_new(NULL);
    qwaker_t w;
    qw_init(&w);
    cr_assert_null(w.link.wakeq, "a new link is unbound");
    yp__wakeq_bind(&w.link, q);
    cr_assert_eq(w.link.wakeq, q);
    yp__wakeq_t *other = yp__wakeq_new(NULL);
    yp__wakeq_bind(&w.link, other);
    cr_assert_eq(w.link.wakeq, q, "bound for life: a second bind is a no-op");
    yp__wakeq_decref(other);
    cr_assert_eq(yp__wakeq_live(), 1);
    yp__wakeq_decref(q);
    cr_assert_eq(yp__wakeq_live(), 1, "the link's reference keeps it");
    yp__wakeq_link_release(&w.link);
    cr_assert_eq(yp__wakeq_live(), 0);
    cr_assert_null(w.link.wakeq);
    yp__wakeq_link_release(&w.link);   /* unbound: nothing to drop */
    yp_waker_drop(&w.cw.base);
    cw_fini(&w.cw);
}

/* ---------------------------------------------------------------------
 * Producers on several threads, one consumer (the test's thread), as the
 * foreign-wake hub uses it.  Each producer owns a few wakers and pushes
 * them in turn, marking each `want` before its push; the consumer, like
 * the hub's drain, takes everything, lets each link go with next() and
 * only then delivers it (clears `want`) and drops the list's reference.
 * Checked once everything is quiet:
 *  - no wake lost: every `want` is clear (a push that found its link
 *    queued relies on the delivery that follows the consumer's next());
 *  - one drain per non-empty period: pushes that returned 1 == takes that
 *    returned a list;
 *  - a link at most once per take, every list reference dropped (each
 *    waker back to its owner's one reference), the queue freed.
 */
#define PRODUCERS 4
#define WAKERS_PER_PRODUCER 8
#define PUSHES_PER_PRODUCER 20000

typedef struct {
    yp__wakeq_t *q;
    qwaker_t *w;                /* WAKERS_PER_PRODUCER of them */
    long firsts;                /* pushes that returned 1 */
    int *running;               /* atomic: producers not yet done */
} producer_t;

static void *
producer_main(void *p)
{
    producer_t *pr = p;
    for (int i = 0; i < PUSHES_PER_PRODUCER; i++) {
        qwaker_t *w = &pr->w[i % WAKERS_PER_PRODUCER];
        __atomic_store_n(&w->want, 1, __ATOMIC_RELEASE);
        pr->firsts += yp__wakeq_push(pr->q, &w->link);
    }
    __atomic_fetch_sub(pr->running, 1, __ATOMIC_RELEASE);
    return NULL;
}

static long
drain(yp__wakeq_t *q, long batch)
{
    yp__wakeq_link_t *l = yp__wakeq_take(q);
    if (l == NULL) {
        return 0;
    }
    while (l != NULL) {
        yp__wakeq_link_t *next = yp__wakeq_next(l);
        qwaker_t *w = qw_of(l);
        cr_assert_neq(w->batch, batch, "a link twice in one take");
        w->batch = batch;
        w->delivered++;
        __atomic_store_n(&w->want, 0, __ATOMIC_RELEASE);
        yp_waker_drop(l->waker);
        l = next;
    }
    return 1;
}

YP_UTEST(wakeq, producers_race_one_consumer)
{
    static qwaker_t w[PRODUCERS][WAKERS_PER_PRODUCER];
    producer_t pr[PRODUCERS];
    pthread_t th[PRODUCERS];
    int running = PRODUCERS;
    yp__wakeq_t *q = yp__wakeq_new(NULL);

    for (int p = 0; p < PRODUCERS; p++) {
        for (int k = 0; k < WAKERS_PER_PRODUCER; k++) {
            qw_init(&w[p][k]);
        }
        pr[p] = (producer_t){.q = q, .w = w[p], .firsts = 0,
                             .running = &running};
        cr_assert_eq(pthread_create(&th[p], NULL, producer_main, &pr[p]), 0);
    }
    long takes = 0, batch = 0;
    while (__atomic_load_n(&running, __ATOMIC_ACQUIRE) > 0) {
        takes += drain(q, batch++);
    }
    for (int p = 0; p < PRODUCERS; p++) {
        pthread_join(th[p], NULL);
    }
    takes += drain(q, batch++);   /* what the last pushes left */

    long firsts = 0, delivered = 0;
    for (int p = 0; p < PRODUCERS; p++) {
        firsts += pr[p].firsts;
        for (int k = 0; k < WAKERS_PER_PRODUCER; k++) {
            qwaker_t *x = &w[p][k];
            cr_assert_eq(__atomic_load_n(&x->want, __ATOMIC_ACQUIRE), 0,
                         "producer %d waker %d: a wake was lost", p, k);
            cr_assert_eq(__atomic_load_n(&x->link.queued, __ATOMIC_ACQUIRE),
                         0);
            cr_assert_eq(yp_waker_refcount(&x->cw.base), 1,
                         "producer %d waker %d: %zu references, expected "
                         "the owner's only", p, k,
                         yp_waker_refcount(&x->cw.base));
            cr_assert_gt(x->delivered, 0);
            delivered += x->delivered;
            yp_waker_drop(&x->cw.base);
            cw_fini(&x->cw);
        }
    }
    cr_assert_eq(firsts, takes,
                 "%ld pushes scheduled a drain, %ld takes found work",
                 firsts, takes);
    cr_assert_leq(delivered, (long)PRODUCERS * PUSHES_PER_PRODUCER);
    cr_assert_null(yp__wakeq_take(q));
    yp__wakeq_decref(q);
}
