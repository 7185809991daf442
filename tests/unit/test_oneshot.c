/* test_oneshot.c -- yp_oneshot_*: one value from any thread to one
 * receiving future. */
#include <criterion/criterion.h>

#include <stdlib.h>

#include "helpers.h"


TestSuite(oneshot, .timeout = 120);

static long freed;          /* atomic: value_free calls */
static void *last_freed;    /* atomic */

static void
count_free(void *value)
{
    __atomic_store_n(&last_freed, value, __ATOMIC_SEQ_CST);
    __atomic_fetch_add(&freed, 1, __ATOMIC_SEQ_CST);
}

static long
n_freed(void)
{
    return __atomic_load_n(&freed, __ATOMIC_SEQ_CST);
}

static int token_a, token_b;

YP_UTEST(oneshot, new_rejects_null_out_parameters)
{
    yp_oneshot_tx_t *tx;
    yp_oneshot_rx_t *rx;
    cr_assert_eq(yp_oneshot_new(NULL, &rx, NULL), YP_EINVAL);
    cr_assert_eq(yp_oneshot_new(&tx, NULL, NULL), YP_EINVAL);
}

YP_UTEST(oneshot, send_before_poll)
{
    counting_waker_t cw;
    cw_init(&cw);
    yp_context_t cx = cw_context(&cw.base);
    yp_oneshot_tx_t *tx;
    yp_oneshot_rx_t *rx;
    cr_assert_eq(yp_oneshot_new(&tx, &rx, count_free), 0);
    cr_assert_eq(yp__oneshot_live(), 1);
    cr_assert_not(yp_oneshot_tx_is_canceled(tx));
    cr_assert_eq(yp_oneshot_send(tx, &token_a), 0);
    void *v = NULL;
    cr_assert_eq(yp_oneshot_poll(rx, &cx, &v), YP_READY);
    cr_assert_eq(v, &token_a);
    cr_assert_eq(yp_waker_refcount(&cw.base), 1, "READY registers nothing");
    cr_assert_eq(cw_wakes(&cw), 0);
    yp_oneshot_rx_drop(rx);
    cr_assert_eq(n_freed(), 0, "a received value is the receiver's");
    yp_waker_drop(&cw.base);
    cw_fini(&cw);
}

YP_UTEST(oneshot, send_after_poll_wakes)
{
    counting_waker_t cw;
    cw_init(&cw);
    yp_context_t cx = cw_context(&cw.base);
    yp_oneshot_tx_t *tx;
    yp_oneshot_rx_t *rx;
    cr_assert_eq(yp_oneshot_new(&tx, &rx, count_free), 0);
    void *v = &token_b;
    cr_assert_eq(yp_oneshot_poll(rx, &cx, &v), YP_PENDING);
    cr_assert_eq(yp_waker_refcount(&cw.base), 2, "poll registers a clone");
    /* will_wake: polling again with the same waker keeps the clone */
    cr_assert_eq(yp_oneshot_poll(rx, &cx, &v), YP_PENDING);
    cr_assert_eq(yp_waker_refcount(&cw.base), 2);
    cr_assert_eq(cw_wakes(&cw), 0);
    cr_assert_eq(yp_oneshot_send(tx, &token_a), 0);
    cr_assert_eq(cw_wakes(&cw), 1, "send wakes the registered waker");
    cr_assert_eq(yp_waker_refcount(&cw.base), 1, "...and releases it");
    cr_assert_eq(yp_oneshot_poll(rx, &cx, &v), YP_READY);
    cr_assert_eq(v, &token_a);
    yp_oneshot_rx_drop(rx);
    cr_assert_eq(n_freed(), 0);
    yp_waker_drop(&cw.base);
    cr_assert_eq(cw_destroys(&cw), 1);
    cw_fini(&cw);
}

YP_UTEST(oneshot, poll_with_another_waker_replaces)
{
    counting_waker_t a, b;
    cw_init(&a);
    cw_init(&b);
    yp_context_t cxa = cw_context(&a.base), cxb = cw_context(&b.base);
    yp_oneshot_tx_t *tx;
    yp_oneshot_rx_t *rx;
    void *v;
    cr_assert_eq(yp_oneshot_new(&tx, &rx, NULL), 0);
    cr_assert_eq(yp_oneshot_poll(rx, &cxa, &v), YP_PENDING);
    cr_assert_eq(yp_oneshot_poll(rx, &cxb, &v), YP_PENDING);
    cr_assert_eq(yp_waker_refcount(&a.base), 1, "old waker dropped");
    cr_assert_eq(yp_waker_refcount(&b.base), 2);
    cr_assert_eq(yp_oneshot_send(tx, NULL), 0);
    cr_assert_eq(cw_wakes(&a), 0, "only the latest waker is woken");
    cr_assert_eq(cw_wakes(&b), 1);
    cr_assert_eq(yp_oneshot_poll(rx, &cxa, &v), YP_READY);
    cr_assert_null(v);
    yp_oneshot_rx_drop(rx);
    yp_waker_drop(&a.base);
    yp_waker_drop(&b.base);
    cw_fini(&a);
    cw_fini(&b);
}

YP_UTEST(oneshot, tx_drop_before_poll_is_canceled)
{
    counting_waker_t cw;
    cw_init(&cw);
    yp_context_t cx = cw_context(&cw.base);
    yp_oneshot_tx_t *tx;
    yp_oneshot_rx_t *rx;
    void *v;
    cr_assert_eq(yp_oneshot_new(&tx, &rx, count_free), 0);
    yp_oneshot_tx_drop(tx);
    cr_assert_eq(yp_oneshot_poll(rx, &cx, &v), YP_ECANCELED);
    cr_assert_eq(yp_oneshot_poll(rx, &cx, &v), YP_ECANCELED);
    cr_assert_eq(yp_waker_refcount(&cw.base), 1, "nothing registered");
    yp_oneshot_rx_drop(rx);
    cr_assert_eq(n_freed(), 0, "no value, nothing to free");
    yp_waker_drop(&cw.base);
    cw_fini(&cw);
}

YP_UTEST(oneshot, tx_drop_after_poll_wakes_then_canceled)
{
    counting_waker_t cw;
    cw_init(&cw);
    yp_context_t cx = cw_context(&cw.base);
    yp_oneshot_tx_t *tx;
    yp_oneshot_rx_t *rx;
    void *v;
    cr_assert_eq(yp_oneshot_new(&tx, &rx, count_free), 0);
    cr_assert_eq(yp_oneshot_poll(rx, &cx, &v), YP_PENDING);
    yp_oneshot_tx_drop(tx);
    cr_assert_eq(cw_wakes(&cw), 1, "tx_drop wakes the receiver");
    cr_assert_eq(yp_waker_refcount(&cw.base), 1);
    cr_assert_eq(yp_oneshot_poll(rx, &cx, &v), YP_ECANCELED);
    yp_oneshot_rx_drop(rx);
    yp_waker_drop(&cw.base);
    cw_fini(&cw);
}

YP_UTEST(oneshot, rx_drop_then_send_is_canceled_and_frees)
{
    yp_oneshot_tx_t *tx;
    yp_oneshot_rx_t *rx;
    cr_assert_eq(yp_oneshot_new(&tx, &rx, count_free), 0);
    yp_oneshot_rx_drop(rx);
    cr_assert(yp_oneshot_tx_is_canceled(tx));
    cr_assert_eq(yp__oneshot_live(), 1, "the sender still holds it");
    cr_assert_eq(yp_oneshot_send(tx, &token_a), YP_ECANCELED);
    cr_assert_eq(n_freed(), 1);
    cr_assert_eq(__atomic_load_n(&last_freed, __ATOMIC_SEQ_CST), &token_a);
}

YP_UTEST(oneshot, rx_drop_releases_the_registered_waker)
{
    counting_waker_t cw;
    cw_init(&cw);
    yp_context_t cx = cw_context(&cw.base);
    yp_oneshot_tx_t *tx;
    yp_oneshot_rx_t *rx;
    void *v;
    cr_assert_eq(yp_oneshot_new(&tx, &rx, count_free), 0);
    cr_assert_eq(yp_oneshot_poll(rx, &cx, &v), YP_PENDING);
    yp_oneshot_rx_drop(rx);
    cr_assert_eq(yp_waker_refcount(&cw.base), 1);
    cr_assert_eq(cw_wakes(&cw), 0, "dropping the receiver never wakes");
    cr_assert(yp_oneshot_tx_is_canceled(tx));
    yp_oneshot_tx_drop(tx);
    cr_assert_eq(n_freed(), 0);
    yp_waker_drop(&cw.base);
    cw_fini(&cw);
}

YP_UTEST(oneshot, sent_but_never_received_is_freed)
{
    yp_oneshot_tx_t *tx;
    yp_oneshot_rx_t *rx;
    /* sender last */
    cr_assert_eq(yp_oneshot_new(&tx, &rx, count_free), 0);
    cr_assert_eq(yp_oneshot_send(tx, &token_a), 0);
    cr_assert_eq(n_freed(), 0);
    yp_oneshot_rx_drop(rx);
    cr_assert_eq(n_freed(), 1);
    cr_assert_eq(__atomic_load_n(&last_freed, __ATOMIC_SEQ_CST), &token_a);
    /* without a value_free, the value is simply not freed */
    cr_assert_eq(yp_oneshot_new(&tx, &rx, NULL), 0);
    cr_assert_eq(yp_oneshot_send(tx, &token_b), 0);
    yp_oneshot_rx_drop(rx);
    cr_assert_eq(n_freed(), 1);
}

YP_UTEST(oneshot, poll_after_ready_is_canceled)
{
    counting_waker_t cw;
    cw_init(&cw);
    yp_context_t cx = cw_context(&cw.base);
    yp_oneshot_tx_t *tx;
    yp_oneshot_rx_t *rx;
    void *v;
    cr_assert_eq(yp_oneshot_new(&tx, &rx, count_free), 0);
    cr_assert_eq(yp_oneshot_send(tx, &token_a), 0);
    cr_assert_eq(yp_oneshot_poll(rx, &cx, &v), YP_READY);
    v = &token_b;
    cr_assert_eq(yp_oneshot_poll(rx, &cx, &v), YP_ECANCELED);
    cr_assert_eq(yp_oneshot_poll(rx, &cx, &v), YP_ECANCELED);
    cr_assert_eq(yp_waker_refcount(&cw.base), 1);
    yp_oneshot_rx_drop(rx);
    cr_assert_eq(n_freed(), 0, "received once, never freed");
    yp_waker_drop(&cw.base);
    cw_fini(&cw);
}

YP_UTEST(oneshot, is_canceled_only_after_rx_drop)
{
    counting_waker_t cw;
    cw_init(&cw);
    yp_context_t cx = cw_context(&cw.base);
    yp_oneshot_tx_t *tx;
    yp_oneshot_rx_t *rx;
    void *v;
    cr_assert_eq(yp_oneshot_new(&tx, &rx, NULL), 0);
    cr_assert_not(yp_oneshot_tx_is_canceled(tx));
    cr_assert_eq(yp_oneshot_poll(rx, &cx, &v), YP_PENDING);
    cr_assert_not(yp_oneshot_tx_is_canceled(tx), "polling is not dropping");
    yp_oneshot_rx_drop(rx);
    cr_assert(yp_oneshot_tx_is_canceled(tx));
    yp_oneshot_tx_drop(tx);
    yp_waker_drop(&cw.base);
    cw_fini(&cw);
}

/* ---------------------------------------------------------------------
 * Cross-thread: the receiver registers, another thread sends, and the
 * receiver blocks on its waker until the wake arrives.
 */
static void *
send_later(void *p)
{
    yp_oneshot_tx_t *tx = p;
    int r = yp_oneshot_send(tx, &token_b);
    return (void *)(intptr_t)r;
}

YP_UTEST(oneshot, cross_thread_send_wakes_registered_waker)
{
    counting_waker_t cw;
    cw_init(&cw);
    yp_context_t cx = cw_context(&cw.base);
    for (int round = 0; round < 200; round++) {
        yp_oneshot_tx_t *tx;
        yp_oneshot_rx_t *rx;
        void *v = NULL;
        long wakes = cw_wakes(&cw);
        cr_assert_eq(yp_oneshot_new(&tx, &rx, count_free), 0);
        cr_assert_eq(yp_oneshot_poll(rx, &cx, &v), YP_PENDING);
        pthread_t th;
        cr_assert_eq(pthread_create(&th, NULL, send_later, tx), 0);
        cr_assert(cw_wait_wakes(&cw, wakes + 1, 10.0), "wake lost");
        cr_assert_eq(yp_oneshot_poll(rx, &cx, &v), YP_READY);
        cr_assert_eq(v, &token_b);
        void *ret;
        pthread_join(th, &ret);
        cr_assert_eq((intptr_t)ret, 0);
        yp_oneshot_rx_drop(rx);
        cr_assert_eq(cw_wakes(&cw), wakes + 1, "exactly one wake");
    }
    cr_assert_eq(yp_waker_refcount(&cw.base), 1);
    cr_assert_eq(n_freed(), 0);
    yp_waker_drop(&cw.base);
    cw_fini(&cw);
}

/* ---------------------------------------------------------------------
 * Stress: 4 sender threads and 4 receiver threads work through
 * STRESS_CHANNELS channels; sender k and receiver k share channels
 * i = k (mod 4), in the same order, so every channel is raced.  By i % 3:
 *   0: send a heap value; the receiver polls until READY;
 *   1: tx_drop; the receiver polls until ECANCELED;
 *   2: send a heap value while the receiver drops without polling (send
 *      may return 0 or ECANCELED).
 * Every allocated value must be received or value_free'd exactly once,
 * every channel freed, and no wake lost (a receiver that waits 10 s on a
 * PENDING channel fails the test).
 */
#define STRESS_PAIRS 4
#define STRESS_CHANNELS 40000

typedef struct {
    yp_oneshot_tx_t *tx[STRESS_CHANNELS];
    yp_oneshot_rx_t *rx[STRESS_CHANNELS];
    long allocated;             /* atomic */
    long received;              /* atomic */
    long canceled_sends;        /* atomic */
    int failed;                 /* atomic */
} stress_t;

typedef struct {
    stress_t *st;
    int k;
} stress_arg_t;

static void
free_int(void *p)
{
    count_free(p);
    free(p);
}

static void *
stress_sender(void *p)
{
    stress_arg_t *a = p;
    stress_t *st = a->st;
    for (int i = a->k; i < STRESS_CHANNELS; i += STRESS_PAIRS) {
        if (i % 3 == 1) {
            yp_oneshot_tx_drop(st->tx[i]);
            continue;
        }
        int *v = malloc(sizeof(*v));
        *v = i;
        __atomic_fetch_add(&st->allocated, 1, __ATOMIC_SEQ_CST);
        int r = yp_oneshot_send(st->tx[i], v);
        if (r == YP_ECANCELED) {
            __atomic_fetch_add(&st->canceled_sends, 1, __ATOMIC_SEQ_CST);
            if (i % 3 != 2) {
                __atomic_store_n(&st->failed, 1, __ATOMIC_SEQ_CST);
            }
        }
        else if (r != 0) {
            __atomic_store_n(&st->failed, 1, __ATOMIC_SEQ_CST);
        }
    }
    return NULL;
}

static void *
stress_receiver(void *p)
{
    stress_arg_t *a = p;
    stress_t *st = a->st;
    counting_waker_t cw;
    cw_init(&cw);
    yp_context_t cx = cw_context(&cw.base);
    for (int i = a->k; i < STRESS_CHANNELS; i += STRESS_PAIRS) {
        if (i % 3 == 2) {
            yp_oneshot_rx_drop(st->rx[i]);
            continue;
        }
        int want = i % 3 == 0 ? YP_READY : YP_ECANCELED;
        for (;;) {
            /* Snapshot before polling: a wake for this channel comes
             * after the registration, so after the snapshot.  Late wakes
             * from earlier channels only cause an extra poll. */
            long seen = cw_wakes(&cw);
            void *v = NULL;
            int r = yp_oneshot_poll(st->rx[i], &cx, &v);
            if (r == YP_PENDING) {
                if (!cw_wait_wakes(&cw, seen + 1, 10.0)) {
                    __atomic_store_n(&st->failed, 2, __ATOMIC_SEQ_CST);
                    break;
                }
                continue;
            }
            if (r != want || (r == YP_READY && *(int *)v != i)) {
                __atomic_store_n(&st->failed, 3, __ATOMIC_SEQ_CST);
            }
            if (r == YP_READY) {
                free(v);
                __atomic_fetch_add(&st->received, 1, __ATOMIC_SEQ_CST);
            }
            break;
        }
        yp_oneshot_rx_drop(st->rx[i]);
    }
    /* Every channel lets go of its clone (a sender may still be between
     * its wake and its drop, hence the wait). */
    if (!cw_release(&cw, 10.0)) {
        __atomic_store_n(&st->failed, 4, __ATOMIC_SEQ_CST);
    }
    if (cw_destroys(&cw) != 1) {
        __atomic_store_n(&st->failed, 5, __ATOMIC_SEQ_CST);
    }
    cw_fini(&cw);
    return NULL;
}

YP_UTEST(oneshot, stress_8_threads)
{
    static stress_t st;
    for (int i = 0; i < STRESS_CHANNELS; i++) {
        cr_assert_eq(yp_oneshot_new(&st.tx[i], &st.rx[i], free_int), 0);
    }
    pthread_t th[2 * STRESS_PAIRS];
    stress_arg_t args[STRESS_PAIRS];
    for (int k = 0; k < STRESS_PAIRS; k++) {
        args[k].st = &st;
        args[k].k = k;
        cr_assert_eq(pthread_create(&th[2 * k], NULL, stress_receiver,
                                    &args[k]), 0);
        cr_assert_eq(pthread_create(&th[2 * k + 1], NULL, stress_sender,
                                    &args[k]), 0);
    }
    for (int k = 0; k < 2 * STRESS_PAIRS; k++) {
        pthread_join(th[k], NULL);
    }
    cr_assert_eq(st.failed, 0, "failure code %d", st.failed);
    long sent = 0;
    for (int i = 0; i < STRESS_CHANNELS; i++) {
        sent += i % 3 != 1;
    }
    cr_assert_eq(st.allocated, sent);
    cr_assert_eq(st.received + n_freed(), st.allocated,
                 "received %ld + freed %ld != allocated %ld", st.received,
                 n_freed(), st.allocated);
    cr_log_info("stress: %ld received, %ld freed (%ld sends canceled)",
                st.received, n_freed(), st.canceled_sends);
    cr_assert_eq(yp__oneshot_live(), 0);
}
