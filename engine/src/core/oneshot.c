/*
 * oneshot.c -- one value from any thread to one receiving future.
 *
 * One heap block holds the channel; the two handles are pointers into it
 * (distinct member addresses, so the types cannot be mixed up) and the
 * block is freed by whichever handle goes last.
 *
 * Locking: one mutex guards the value, the flags and the registered
 * waker.  The rule that shapes every function below: no waker is ever
 * woken or dropped with the mutex held.  A waker's wake (or its destroy)
 * may take the GIL, and the thread holding the GIL may at that moment be
 * polling this very channel, i.e. waiting for our mutex: a lock-order
 * inversion between the GIL and the mutex, and a deadlock.  So a waker is
 * always moved out into a local under the lock, and woken or dropped
 * after unlocking.  The same goes for cloning, since a vtable may supply
 * its own clone (core.h): poll registers its waker with
 * yp__waker_register_locked (waker.c), which clones with the lock
 * released, and then re-checks the channel.
 */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>

/* Bits of yp_oneshot_s.flags.  Written only under the mutex, but with
 * atomic stores so that yp_oneshot_tx_is_canceled can read RX_GONE
 * without taking the lock (a sender polling it in a loop should not
 * contend with the receiver). */
#define ONESHOT_VALUE_SET 0x1   /* send stored a value */
#define ONESHOT_RECEIVED 0x2    /* poll handed the value out */
#define ONESHOT_TX_GONE 0x4     /* send or tx_drop ran */
#define ONESHOT_RX_GONE 0x8     /* rx_drop ran */

/* The handles carry no state of their own; they exist so that tx and rx
 * have distinct types and addresses inside the channel. */
struct yp_oneshot_tx_s {
    char unused;
};

struct yp_oneshot_rx_s {
    char unused;
};

struct yp_oneshot_s {
    struct yp_oneshot_tx_s tx;
    struct yp_oneshot_rx_s rx;
    pthread_mutex_t lock;
    int flags;                  /* ONESHOT_*; see above */
    void *value;                /* valid while VALUE_SET && !RECEIVED */
    yp_waker_t *rx_waker;       /* owned; registered by a PENDING poll */
    void (*value_free)(void *value);
    int handles;                /* atomic: live handles, 2 -> 0 */
};

static long live_oneshots;

static yp_oneshot_t *
from_tx(const yp_oneshot_tx_t *tx)
{
    return YP__CONTAINER_OF(tx, yp_oneshot_t, tx);
}

static yp_oneshot_t *
from_rx(const yp_oneshot_rx_t *rx)
{
    return YP__CONTAINER_OF(rx, yp_oneshot_t, rx);
}

static void
set_flags(yp_oneshot_t *ch, int bits)
{
    /* Caller holds ch->lock, so the read-modify-write cannot race with
     * another writer; the store is atomic only for the lock-free reader. */
    int f = __atomic_load_n(&ch->flags, __ATOMIC_RELAXED);
    __atomic_store_n(&ch->flags, f | bits, __ATOMIC_RELEASE);
}

static int
get_flags(const yp_oneshot_t *ch)
{
    return __atomic_load_n(&ch->flags, __ATOMIC_ACQUIRE);
}

/* Give up one handle; the last one frees the channel.  acq_rel, as in
 * the waker's refcount: the releasing side publishes its writes (the
 * value, the flags), and the freeing side must see them before it frees
 * the value.  Both handles did their writes under the mutex too, but the
 * final reads here happen without it. */
static void
release_handle(yp_oneshot_t *ch)
{
    if (__atomic_sub_fetch(&ch->handles, 1, __ATOMIC_ACQ_REL) != 0) {
        return;
    }
    int f = get_flags(ch);
    if ((f & ONESHOT_VALUE_SET) && !(f & ONESHOT_RECEIVED)
        && ch->value_free != NULL)
    {
        ch->value_free(ch->value);
    }
    /* Both handles are gone, so nobody can hold the lock: dropping here
     * is within the rule.  In practice the slot is already empty (the
     * receiver takes its waker when it goes). */
    yp_waker_drop(ch->rx_waker);
    pthread_mutex_destroy(&ch->lock);
    free(ch);
    __atomic_fetch_sub(&live_oneshots, 1, __ATOMIC_RELAXED);
}

int
yp_oneshot_new(yp_oneshot_tx_t **tx, yp_oneshot_rx_t **rx,
               void (*value_free)(void *value))
{
    if (tx == NULL || rx == NULL) {
        return YP_EINVAL;
    }
    yp_oneshot_t *ch = malloc(sizeof(*ch));
    if (ch == NULL) {
        return YP_ENOMEM;
    }
    if (yp__mutex_init(&ch->lock) != 0) {
        free(ch);
        return YP_ENOMEM;
    }
    ch->flags = 0;
    ch->value = NULL;
    ch->rx_waker = NULL;
    ch->value_free = value_free;
    ch->handles = 2;
    __atomic_fetch_add(&live_oneshots, 1, __ATOMIC_RELAXED);
    *tx = &ch->tx;
    *rx = &ch->rx;
    return 0;
}

/* Finish the sender: with a value (send) or without (tx_drop). */
static int
tx_finish(yp_oneshot_t *ch, int with_value, void *value)
{
    yp__mutex_lock(&ch->lock);
    if (with_value && (get_flags(ch) & ONESHOT_RX_GONE)) {
        set_flags(ch, ONESHOT_TX_GONE);
        yp__mutex_unlock(&ch->lock);
        /* value_free is user code: also outside the lock. */
        if (ch->value_free != NULL) {
            ch->value_free(value);
        }
        release_handle(ch);
        return YP_ECANCELED;
    }
    if (with_value) {
        ch->value = value;
        set_flags(ch, ONESHOT_VALUE_SET | ONESHOT_TX_GONE);
    }
    else {
        set_flags(ch, ONESHOT_TX_GONE);
    }
    yp_waker_t *waker = ch->rx_waker;
    ch->rx_waker = NULL;
    yp__mutex_unlock(&ch->lock);

    /* The receiver may run (and even drop its handle) as soon as we
     * unlock; `waker` is our reference now, so it stays valid, and our
     * handle keeps the channel alive until release_handle. */
    if (waker != NULL) {
        yp_waker_wake(waker);
    }
    release_handle(ch);
    return 0;
}

int
yp_oneshot_send(yp_oneshot_tx_t *tx, void *value)
{
    return tx_finish(from_tx(tx), 1, value);
}

void
yp_oneshot_tx_drop(yp_oneshot_tx_t *tx)
{
    (void)tx_finish(from_tx(tx), 0, NULL);
}

int
yp_oneshot_tx_is_canceled(const yp_oneshot_tx_t *tx)
{
    return (get_flags(from_tx(tx)) & ONESHOT_RX_GONE) != 0;
}

int
yp_oneshot_poll(yp_oneshot_rx_t *rx, yp_context_t *cx, void **value)
{
    yp_oneshot_t *ch = from_rx(rx);
    yp_waker_t *w = yp_context_waker(cx);
    yp__waker_reg_t reg = YP__WAKER_REG_INIT;
    int result;

    yp__mutex_lock(&ch->lock);
    do {
        int f = get_flags(ch);
        if ((f & ONESHOT_VALUE_SET) && !(f & ONESHOT_RECEIVED)) {
            *value = ch->value;
            ch->value = NULL;
            set_flags(ch, ONESHOT_RECEIVED);
            /* Nobody will wake this any more. */
            reg.stale = ch->rx_waker;
            ch->rx_waker = NULL;
            result = YP_READY;
            break;
        }
        if (f & (ONESHOT_RECEIVED | ONESHOT_TX_GONE)) {
            /* Already received, or the sender went without sending. */
            result = YP_ECANCELED;
            break;
        }
        result = YP_PENDING;
        /* Clones unlocked (see the top of the file); if it had to, the
         * sender may have finished meanwhile: look again. */
    } while (!yp__waker_register_locked(&reg, &ch->rx_waker, w, &ch->lock));
    yp__mutex_unlock(&ch->lock);

    yp__waker_reg_finish(&reg);
    return result;
}

void
yp_oneshot_rx_drop(yp_oneshot_rx_t *rx)
{
    yp_oneshot_t *ch = from_rx(rx);

    yp__mutex_lock(&ch->lock);
    set_flags(ch, ONESHOT_RX_GONE);
    yp_waker_t *waker = ch->rx_waker;
    ch->rx_waker = NULL;
    yp__mutex_unlock(&ch->lock);

    yp_waker_drop(waker);
    release_handle(ch);
}

long
yp__oneshot_live(void)
{
    return __atomic_load_n(&live_oneshots, __ATOMIC_RELAXED);
}
