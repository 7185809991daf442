/*
 * core.c -- fuzz target `core`: the Python-free engine against a model.
 *
 * Bytes become a sequence of operations on
 *   - protocol state machines (yp__proto_*: send/throw/close/finalize and
 *     the end of each poll, with and without a cancel handle),
 *   - task wakers (yp__taskwaker_*: begin_poll/arm/kill and wakes through
 *     the waker API, plus clones held elsewhere),
 *   - the wake queue (yp__wakeq_*): every task waker is bound to one queue
 *     and its notify pushes it there, as the foreign-wake hub does; every
 *     check drains the queue (the loop's drain) and compares what comes
 *     out, and in which order, with the model,
 *   - plain wakers with a counting vtable (clone/drop/wake/wake_by_ref/
 *     will_wake/register, and the static noop waker),
 *   - borrow flags (shared/exclusive try and release),
 *   - error strings,
 *   - oneshot channels and timers.
 * A small executable model, written from the documentation in core.h and
 * internal.h (not from the .c files), predicts every outcome; any
 * disagreement aborts with the operation number and both answers.
 *
 * To add a subsystem: add its model state to `world_t`, its opcodes to
 * `enum op` (before OP__COUNT), a case in run_op(), and its cleanup and
 * final checks in world_finish().
 */
#include "fuzz_common.h"

#include "internal.h"

#include <math.h>

#define NPROTO 4
#define NTW 4        /* task waker objects alive at once */
#define NPW 4        /* plain waker objects alive at once */
#define NREF 16      /* waker references held by the harness */
#define NSLOT 2      /* yp_waker_register slots */
#define NFLAG 2
#define MAX_OPS 512

/* ------------------------------------------------------------------ */
/* Model of the protocol state machine (internal.h's comments). */

typedef struct {
    yp__proto_t real;
    int state;        /* yp__cr_state_t */
    int has_cancel;
} proto_m;

static yp__action_t
model_begin(proto_m *m, yp__op_t op)
{
    switch (m->state) {
    case YP__CR_RUNNING:
        /* Re-entrant: send/throw/close refused; finalize cannot happen
         * while running (the object is referenced) and is a no-op. */
        return op == YP__OP_FINALIZE ? YP__ACT_NOOP : YP__ACT_ERR_RUNNING;
    case YP__CR_FINISHED:
        /* send/throw: cannot reuse; close/finalize: silent no-op. */
        return (op == YP__OP_SEND || op == YP__OP_THROW) ? YP__ACT_ERR_REUSE
                                                         : YP__ACT_NOOP;
    default: /* CREATED, SUSPENDED */
        break;
    }
    switch (op) {
    case YP__OP_SEND:
        m->state = YP__CR_RUNNING;
        return YP__ACT_POLL;
    case YP__OP_THROW:
        if (m->has_cancel) {
            m->state = YP__CR_RUNNING;
            return YP__ACT_CANCEL_POLL;
        }
        m->state = YP__CR_FINISHED;
        return YP__ACT_DROP_RAISE;
    case YP__OP_CLOSE:
        m->state = YP__CR_FINISHED;
        return YP__ACT_DROP;
    case YP__OP_FINALIZE:
    default: {
        int was_created = m->state == YP__CR_CREATED;
        m->state = YP__CR_FINISHED;
        return was_created ? YP__ACT_DROP_WARN : YP__ACT_DROP;
    }
    }
}

/* ------------------------------------------------------------------ */
/* Wakers. */

/* A plain waker object: our vtable counts wakes and the destroy. */
typedef struct {
    yp_waker_t base;
    unsigned magic;
    int idx;
} plain_t;

#define PLAIN_MAGIC 0x59505057u

enum wkind { W_NONE = 0, W_TASK, W_PLAIN, W_NOOP };

typedef struct {
    yp__taskwaker_t *ptr;
    int in_use;       /* model: object exists (refs > 0) */
    int owned;        /* the owner's reference is still held (not killed) */
    size_t refs;
    int state;        /* yp__tw_state_t */
    long notifies;    /* expected */
    long notified;    /* observed by notify_cb */
    int queued;       /* model: on the wake queue */
    long qseq;        /* model: when it was queued (push order) */
} tw_m;

typedef struct {
    plain_t *ptr;
    int in_use;
    size_t refs;
    long wakes;       /* expected */
    long woken;       /* observed */
    int destroyed;    /* observed destroy calls for the current object */
} pw_m;

typedef struct {
    int kind;         /* enum wkind */
    int idx;
    yp_waker_t *ptr;
} ref_t;

#define NCHAN 2
typedef struct {
    unsigned magic;
    int chan;
    int freed;
} token_t;
#define TOKEN_MAGIC 0x544f4b4eu

typedef struct {
    int in_use;
    yp_oneshot_tx_t *tx;
    yp_oneshot_rx_t *rx;
    int tx_alive, rx_alive;
    int sent;          /* a value was sent successfully */
    int received;      /* ...and handed out by poll */
    int tx_dropped;    /* dropped without sending */
    token_t *token;    /* the value sent, until received or freed */
    int registered;    /* a PENDING poll registered `waker` */
    plain_t *waker;    /* dedicated plain waker (pw index kept in idx) */
    int widx;
} chan_m;

typedef struct {
    proto_m proto[NPROTO];
    tw_m tw[NTW];
    pw_m pw[NPW];
    ref_t refs[NREF];
    ref_t slots[NSLOT];
    yp_borrowflag_t flag[NFLAG];
    long flag_m[NFLAG];
    long tw_live_base;
    long tw_live;      /* expected live task wakers above base */
    chan_m chan[NCHAN];
    long tokens_live;
    int opno;
    yp__wakeq_t *q;    /* every task waker's queue (one reference ours) */
    long q_len;        /* model: links on it */
    long q_seq;        /* model: pushes that queued a link */
    long wq_live_base;
} world_t;

static world_t *W;   /* for the callbacks */

static void
notify_cb(yp__taskwaker_t *tw)
{
    tw_m *m = tw->base.data;
    YP_FUZZ_CHECK(m != NULL && m >= W->tw && m < W->tw + NTW,
                  "notify with a foreign owner pointer %p", (void *)m);
    m->notified++;
    /* What the foreign-wake hub does on a notify: push, and the push that
     * finds the queue empty must get a drain scheduled (here: the next
     * check drains).  A link already queued is not queued again. */
    int first = yp__wakeq_push(W->q, &tw->link);
    int want = !m->queued && W->q_len == 0;
    YP_FUZZ_CHECK(first == want,
                  "op %d: wake queue push returned %d, model says %d (%ld "
                  "queued, this one %s)", W->opno, first, want, W->q_len,
                  m->queued ? "queued" : "not queued");
    if (!m->queued) {
        m->queued = 1;
        m->qseq = W->q_seq++;
        W->q_len++;
        m->refs++;   /* the list's reference */
    }
}

/* The loop's drain: take everything, oldest first, let each link go, then
 * drop the list's reference (which may be the waker's last). */
static void model_unref(world_t *w, int kind, int idx);

static void
drain_queue(world_t *w)
{
    yp__wakeq_link_t *link = yp__wakeq_take(w->q);
    long taken = 0, last_seq = -1;
    while (link != NULL) {
        yp__wakeq_link_t *next = yp__wakeq_next(link);
        tw_m *m = link->waker->data;
        YP_FUZZ_CHECK(m != NULL && m >= w->tw && m < w->tw + NTW,
                      "op %d: the wake queue gave a foreign link %p",
                      w->opno, (void *)link);
        YP_FUZZ_CHECK(m->queued && m->qseq > last_seq,
                      "op %d: task waker %d came out of the wake queue %s",
                      w->opno, (int)(m - w->tw),
                      m->queued ? "out of push order" : "unqueued");
        last_seq = m->qseq;
        m->queued = 0;
        taken++;
        yp_waker_drop(link->waker);
        model_unref(w, W_TASK, (int)(m - w->tw));
        link = next;
    }
    YP_FUZZ_CHECK(taken == w->q_len,
                  "op %d: drained %ld wakers, model says %ld queued",
                  w->opno, taken, w->q_len);
    w->q_len = 0;
}

static void
plain_wake(yp_waker_t *w)
{
    plain_t *p = (plain_t *)w;
    YP_FUZZ_CHECK(p->magic == PLAIN_MAGIC, "wake on a dead plain waker");
    W->pw[p->idx].woken++;
}

static void
plain_destroy(yp_waker_t *w)
{
    plain_t *p = (plain_t *)w;
    YP_FUZZ_CHECK(p->magic == PLAIN_MAGIC, "destroy on a dead plain waker");
    pw_m *m = &W->pw[p->idx];
    m->destroyed++;
    p->magic = 0;
    free(p);
}

static const yp_waker_vtable_t plain_vtable = {
    .wake = plain_wake,
    .destroy = plain_destroy,
};

/* Model of waking a task waker (the state diagram in internal.h). */
static void
model_tw_wake(tw_m *m)
{
    if (m->state == YP__TW_POLLING) {
        m->state = YP__TW_WOKEN;
    }
    else if (m->state == YP__TW_ARMED) {
        m->state = YP__TW_FIRED;
        m->notifies++;
    }
}

static void
model_unref(world_t *w, int kind, int idx)
{
    if (kind == W_TASK) {
        tw_m *m = &w->tw[idx];
        YP_FUZZ_CHECK(m->refs > 0, "model: task waker refcount underflow");
        if (--m->refs == 0) {
            m->in_use = 0;
            m->ptr = NULL;
            w->tw_live--;
        }
    }
    else if (kind == W_PLAIN) {
        pw_m *m = &w->pw[idx];
        YP_FUZZ_CHECK(m->refs > 0, "model: plain waker refcount underflow");
        if (--m->refs == 0) {
            YP_FUZZ_CHECK(m->destroyed == 1,
                          "op %d: plain waker %d: last drop called destroy "
                          "%d times, expected once", w->opno, idx,
                          m->destroyed);
            m->in_use = 0;
            m->ptr = NULL;
        }
        else {
            YP_FUZZ_CHECK(m->destroyed == 0,
                          "op %d: plain waker %d destroyed with %zu "
                          "references left", w->opno, idx, m->refs);
        }
    }
}

static void
model_ref(world_t *w, int kind, int idx)
{
    if (kind == W_TASK) {
        w->tw[idx].refs++;
    }
    else if (kind == W_PLAIN) {
        w->pw[idx].refs++;
    }
}

static void
model_wake(world_t *w, int kind, int idx)
{
    if (kind == W_TASK) {
        model_tw_wake(&w->tw[idx]);
    }
    else if (kind == W_PLAIN) {
        w->pw[idx].wakes++;
    }
}

/* The waker a harness reference points at, for checking. */
static const char *
kind_name(int k)
{
    static const char *const n[] = {"none", "task", "plain", "noop"};
    return n[k];
}

/* The full comparison of engine and model.  Not instrumented: its
 * comparisons only ever fail by aborting, so tracing them guides nothing
 * and cost a tenth of the target's time. */
static YP_FUZZ_NO_COVERAGE void
check_wakers(world_t *w)
{
    drain_queue(w);
    for (int i = 0; i < NTW; i++) {
        tw_m *m = &w->tw[i];
        if (!m->in_use) {
            continue;
        }
        yp__tw_state_t s = yp__taskwaker_state(m->ptr);
        YP_FUZZ_CHECK((int)s == m->state,
                      "op %d: task waker %d state %s, model says %s",
                      w->opno, i, yp__tw_state_name(s),
                      yp__tw_state_name((yp__tw_state_t)m->state));
        size_t rc = yp_waker_refcount(&m->ptr->base);
        YP_FUZZ_CHECK(rc == m->refs,
                      "op %d: task waker %d refcount %zu, model says %zu",
                      w->opno, i, rc, m->refs);
        YP_FUZZ_CHECK(m->notified == m->notifies,
                      "op %d: task waker %d notified %ld times, model says "
                      "%ld", w->opno, i, m->notified, m->notifies);
    }
    for (int i = 0; i < NPW; i++) {
        pw_m *m = &w->pw[i];
        if (!m->in_use) {
            continue;
        }
        int chan_owned = 0;
        for (int c = 0; c < NCHAN; c++) {
            chan_owned |= w->chan[c].in_use && w->chan[c].widx == i;
        }
        if (chan_owned) {
            continue;   /* a channel may hold unmodelled clones */
        }
        size_t rc = yp_waker_refcount(&m->ptr->base);
        YP_FUZZ_CHECK(rc == m->refs,
                      "op %d: plain waker %d refcount %zu, model says %zu",
                      w->opno, i, rc, m->refs);
        YP_FUZZ_CHECK(m->woken == m->wakes,
                      "op %d: plain waker %d woken %ld times, model says %ld",
                      w->opno, i, m->woken, m->wakes);
    }
    YP_FUZZ_CHECK(yp__taskwaker_live() - w->tw_live_base == w->tw_live,
                  "op %d: %ld live task wakers, model says %ld", w->opno,
                  yp__taskwaker_live() - w->tw_live_base, w->tw_live);
    YP_FUZZ_CHECK(yp_waker_refcount(yp_waker_noop()) == 1,
                  "op %d: the noop waker's count moved to %zu", w->opno,
                  yp_waker_refcount(yp_waker_noop()));
}

/* A free harness reference slot, or -1. */
static int
free_ref(world_t *w)
{
    for (int i = 0; i < NREF; i++) {
        if (w->refs[i].kind == W_NONE) {
            return i;
        }
    }
    return -1;
}

/* Pick a waker the harness may use: an owned task waker (its owner
 * reference), a harness reference, or the noop waker. */
static int
pick_waker(world_t *w, yp_fdp_t *p, ref_t *out)
{
    unsigned k = (unsigned)yp_fdp_range(p, 0, NTW + NREF);
    if (k < NTW) {
        tw_m *m = &w->tw[k];
        if (!m->owned) {
            return -1;
        }
        *out = (ref_t){W_TASK, (int)k, &m->ptr->base};
        return 0;
    }
    k -= NTW;
    if (k < NREF) {
        if (w->refs[k].kind == W_NONE) {
            return -1;
        }
        *out = w->refs[k];
        return 0;
    }
    *out = (ref_t){W_NOOP, 0, yp_waker_noop()};
    return 0;
}

static void
token_free(void *v)
{
    token_t *t = v;
    YP_FUZZ_CHECK(t != NULL && t->magic == TOKEN_MAGIC,
                  "oneshot value_free got a bad value %p", v);
    YP_FUZZ_CHECK(!t->freed, "oneshot value freed twice");
    t->freed = 1;
    t->magic = 0;
    W->tokens_live--;
    free(t);
}

/* ------------------------------------------------------------------ */
/* Operations. */

enum op {
    OP_PROTO_INIT = 0,
    OP_PROTO_BEGIN,
    OP_PROTO_END,
    OP_TW_NEW,
    OP_TW_BEGIN_POLL,
    OP_TW_ARM,
    OP_TW_KILL,
    OP_PW_NEW,
    OP_CLONE,
    OP_DROP,
    OP_WAKE,
    OP_WAKE_BY_REF,
    OP_WILL_WAKE,
    OP_REGISTER,
    OP_SLOT_CLEAR,
    OP_BORROW_TRY,
    OP_BORROW_UNTRY,
    OP_STRERROR,
    OP_CHECK,
    OP_CHAN_NEW,
    OP_CHAN_SEND,
    OP_CHAN_TX_DROP,
    OP_CHAN_POLL,
    OP_CHAN_RX_DROP,
    OP_CHAN_IS_CANCELED,
    OP_TIMER_BAD,
    OP_TIMER_PENDING,
    OP__COUNT
};

static void
run_op(world_t *w, yp_fdp_t *p, unsigned op)
{
    switch (op) {
    case OP_PROTO_INIT: {
        proto_m *m = &w->proto[yp_fdp_range(p, 0, NPROTO - 1)];
        int has_cancel = yp_fdp_bool(p);
        yp__proto_init(&m->real, has_cancel);
        m->state = YP__CR_CREATED;
        m->has_cancel = has_cancel;
        break;
    }
    case OP_PROTO_BEGIN: {
        int i = (int)yp_fdp_range(p, 0, NPROTO - 1);
        proto_m *m = &w->proto[i];
        yp__op_t o = (yp__op_t)yp_fdp_range(p, 0, 3);
        int before = m->state;
        yp__action_t want = model_begin(m, o);
        yp__action_t got = yp__proto_begin(&m->real, o);
        YP_FUZZ_CHECK(got == want,
                      "op %d: proto %d (%s, cancel=%d) begin(%d): engine "
                      "says %s, model says %s", w->opno, i,
                      yp__cr_state_name((yp__cr_state_t)before),
                      m->has_cancel, (int)o, yp__action_name(got),
                      yp__action_name(want));
        YP_FUZZ_CHECK(m->real.state == m->state,
                      "op %d: proto %d after %s: state %s, model says %s",
                      w->opno, i, yp__action_name(got),
                      yp__cr_state_name((yp__cr_state_t)m->real.state),
                      yp__cr_state_name((yp__cr_state_t)m->state));
        break;
    }
    case OP_PROTO_END: {
        int i = (int)yp_fdp_range(p, 0, NPROTO - 1);
        proto_m *m = &w->proto[i];
        yp_poll_t r = (yp_poll_t)((int)yp_fdp_range(p, 0, 2) - 1);
        if (m->state != YP__CR_RUNNING) {
            break;   /* end_poll only follows a POLL action */
        }
        yp__proto_end_poll(&m->real, r);
        m->state = r == YP_PENDING ? YP__CR_SUSPENDED : YP__CR_FINISHED;
        YP_FUZZ_CHECK(m->real.state == m->state,
                      "op %d: proto %d end_poll(%d): state %s, model %s",
                      w->opno, i, (int)r,
                      yp__cr_state_name((yp__cr_state_t)m->real.state),
                      yp__cr_state_name((yp__cr_state_t)m->state));
        break;
    }
    case OP_TW_NEW: {
        int i = (int)yp_fdp_range(p, 0, NTW - 1);
        tw_m *m = &w->tw[i];
        if (m->in_use) {
            break;
        }
        m->ptr = yp__taskwaker_new(notify_cb, m);
        YP_FUZZ_CHECK(m->ptr != NULL, "yp__taskwaker_new failed");
        yp__wakeq_bind(&m->ptr->link, w->q);
        m->in_use = 1;
        m->owned = 1;
        m->refs = 1;
        m->state = YP__TW_POLLING;
        m->notifies = m->notified = 0;
        w->tw_live++;
        break;
    }
    case OP_TW_BEGIN_POLL: {
        tw_m *m = &w->tw[yp_fdp_range(p, 0, NTW - 1)];
        if (!m->owned) {
            break;
        }
        yp__taskwaker_begin_poll(m->ptr);
        if (m->state != YP__TW_DEAD) {
            m->state = YP__TW_POLLING;
        }
        break;
    }
    case OP_TW_ARM: {
        int i = (int)yp_fdp_range(p, 0, NTW - 1);
        tw_m *m = &w->tw[i];
        if (!m->owned) {
            break;
        }
        yp__tw_state_t got = yp__taskwaker_arm(m->ptr);
        yp__tw_state_t want;
        if (m->state == YP__TW_POLLING) {
            want = YP__TW_ARMED;
            m->state = YP__TW_ARMED;
        }
        else {
            want = (yp__tw_state_t)m->state;
        }
        YP_FUZZ_CHECK(got == want,
                      "op %d: task waker %d arm: engine says %s, model says "
                      "%s", w->opno, i, yp__tw_state_name(got),
                      yp__tw_state_name(want));
        break;
    }
    case OP_TW_KILL: {
        int i = (int)yp_fdp_range(p, 0, NTW - 1);
        tw_m *m = &w->tw[i];
        if (!m->owned) {
            break;
        }
        /* Check the counts before the object may vanish. */
        YP_FUZZ_CHECK(m->notified == m->notifies,
                      "op %d: task waker %d notified %ld times, model %ld",
                      w->opno, i, m->notified, m->notifies);
        yp__taskwaker_kill(m->ptr);
        m->owned = 0;
        m->state = YP__TW_DEAD;
        model_unref(w, W_TASK, i);
        break;
    }
    case OP_PW_NEW: {
        int i = (int)yp_fdp_range(p, 0, NPW - 1);
        int r = free_ref(w);
        pw_m *m = &w->pw[i];
        if (m->in_use || r < 0) {
            break;
        }
        plain_t *pw = malloc(sizeof(*pw));
        YP_FUZZ_CHECK(pw != NULL, "out of memory");
        pw->magic = PLAIN_MAGIC;
        pw->idx = i;
        yp_waker_init(&pw->base, &plain_vtable, pw);
        *m = (pw_m){.ptr = pw, .in_use = 1, .refs = 1};
        w->refs[r] = (ref_t){W_PLAIN, i, &pw->base};
        break;
    }
    case OP_CLONE: {
        ref_t src;
        int r = free_ref(w);
        if (pick_waker(w, p, &src) < 0 || r < 0) {
            break;
        }
        yp_waker_t *c = yp_waker_clone(src.ptr);
        YP_FUZZ_CHECK(c == src.ptr, "op %d: clone of a %s waker returned a "
                      "different pointer", w->opno, kind_name(src.kind));
        model_ref(w, src.kind, src.idx);
        w->refs[r] = src;
        break;
    }
    case OP_DROP:
    case OP_WAKE: {
        int r = (int)yp_fdp_range(p, 0, NREF);
        if (r == NREF) {
            /* Dropping NULL is allowed and does nothing. */
            if (op == OP_DROP) {
                yp_waker_drop(NULL);
            }
            break;
        }
        ref_t ref = w->refs[r];
        if (ref.kind == W_NONE) {
            break;
        }
        w->refs[r].kind = W_NONE;
        if (op == OP_WAKE) {
            model_wake(w, ref.kind, ref.idx);
            yp_waker_wake(ref.ptr);
        }
        else {
            yp_waker_drop(ref.ptr);
        }
        model_unref(w, ref.kind, ref.idx);
        break;
    }
    case OP_WAKE_BY_REF: {
        ref_t ref;
        if (pick_waker(w, p, &ref) < 0) {
            break;
        }
        model_wake(w, ref.kind, ref.idx);
        yp_waker_wake_by_ref(ref.ptr);
        break;
    }
    case OP_WILL_WAKE: {
        ref_t a, b;
        int anull = yp_fdp_range(p, 0, 7) == 0;
        if (pick_waker(w, p, &a) < 0 || pick_waker(w, p, &b) < 0) {
            break;
        }
        if (anull) {
            YP_FUZZ_CHECK(!yp_waker_will_wake(NULL, b.ptr),
                          "op %d: will_wake(NULL, x) is true", w->opno);
            break;
        }
        int same = a.kind == b.kind && a.idx == b.idx;
        int got = yp_waker_will_wake(a.ptr, b.ptr) != 0;
        /* Same object must will_wake (the task waker is reused across
         * polls so re-registration is free); different objects of ours
         * never wake the same task. */
        YP_FUZZ_CHECK(got == same,
                      "op %d: will_wake(%s %d, %s %d) = %d, model says %d",
                      w->opno, kind_name(a.kind), a.idx, kind_name(b.kind),
                      b.idx, got, same);
        break;
    }
    case OP_REGISTER: {
        int s = (int)yp_fdp_range(p, 0, NSLOT - 1);
        ref_t src;
        if (pick_waker(w, p, &src) < 0) {
            break;
        }
        ref_t *slot = &w->slots[s];
        yp_waker_t *cur = slot->kind != W_NONE ? slot->ptr : NULL;
        yp_waker_register(&cur, src.ptr);
        if (slot->kind != W_NONE && slot->kind == src.kind
            && slot->idx == src.idx)
        {
            YP_FUZZ_CHECK(cur == slot->ptr, "op %d: register of the same "
                          "waker replaced it", w->opno);
            break;
        }
        YP_FUZZ_CHECK(cur == src.ptr, "op %d: register did not store the "
                      "new waker", w->opno);
        ref_t old = *slot;
        model_ref(w, src.kind, src.idx);
        *slot = src;
        if (old.kind != W_NONE) {
            model_unref(w, old.kind, old.idx);
        }
        break;
    }
    case OP_SLOT_CLEAR: {
        ref_t *slot = &w->slots[yp_fdp_range(p, 0, NSLOT - 1)];
        if (slot->kind == W_NONE) {
            break;
        }
        ref_t old = *slot;
        slot->kind = W_NONE;
        yp_waker_drop(old.ptr);
        model_unref(w, old.kind, old.idx);
        break;
    }
    case OP_BORROW_TRY: {
        int f = (int)yp_fdp_range(p, 0, NFLAG - 1);
        yp_borrow_mode_t mode = yp_fdp_bool(p) ? YP_BORROW_EXCLUSIVE
                                               : YP_BORROW_SHARED;
        long *m = &w->flag_m[f];
        int want;
        if (mode == YP_BORROW_EXCLUSIVE) {
            want = *m != 0 ? YP_EBORROWED : 0;
            if (want == 0) {
                *m = -1;
            }
        }
        else {
            want = *m < 0 ? YP_EMUTBORROWED : 0;
            if (want == 0) {
                ++*m;
            }
        }
        int got = yp_borrowflag_try(&w->flag[f], mode);
        YP_FUZZ_CHECK(got == want,
                      "op %d: borrow flag %d try(%s): engine %s, model %s",
                      w->opno, f,
                      mode == YP_BORROW_EXCLUSIVE ? "exclusive" : "shared",
                      yp_err_name(got), yp_err_name(want));
        YP_FUZZ_CHECK(yp_borrowflag_state(&w->flag[f]) == *m,
                      "op %d: borrow flag %d state %ld, model says %ld",
                      w->opno, f, yp_borrowflag_state(&w->flag[f]), *m);
        break;
    }
    case OP_BORROW_UNTRY: {
        int f = (int)yp_fdp_range(p, 0, NFLAG - 1);
        long *m = &w->flag_m[f];
        if (*m == 0) {
            break;   /* releasing an unheld borrow is a contract breach */
        }
        yp_borrow_mode_t mode = *m < 0 ? YP_BORROW_EXCLUSIVE
                                       : YP_BORROW_SHARED;
        yp_borrowflag_untry(&w->flag[f], mode);
        *m = *m < 0 ? 0 : *m - 1;
        YP_FUZZ_CHECK(yp_borrowflag_state(&w->flag[f]) == *m,
                      "op %d: borrow flag %d after release: state %ld, "
                      "model says %ld", w->opno, f,
                      yp_borrowflag_state(&w->flag[f]), *m);
        break;
    }
    case OP_STRERROR: {
        int code = (int)yp_fdp_range(p, 0, 20) - 10;
        const char *s = yp_strerror(code), *n = yp_err_name(code);
        YP_FUZZ_CHECK(s != NULL && n != NULL, "yp_strerror(%d) is NULL",
                      code);
        if (code == YP_EBORROWED) {
            YP_FUZZ_CHECK(strcmp(s, "Already borrowed") == 0,
                          "EBORROWED text is \"%s\"", s);
        }
        if (code == YP_EMUTBORROWED) {
            YP_FUZZ_CHECK(strcmp(s, "Already mutably borrowed") == 0,
                          "EMUTBORROWED text is \"%s\"", s);
        }
        break;
    }
    case OP_CHECK:
        check_wakers(w);
        break;
    case OP_CHAN_NEW: {
        int c = (int)yp_fdp_range(p, 0, NCHAN - 1);
        chan_m *m = &w->chan[c];
        int wi = -1;
        for (int i = 0; i < NPW; i++) {
            if (!w->pw[i].in_use) {
                wi = i;
                break;
            }
        }
        if (m->in_use || wi < 0) {
            break;
        }
        memset(m, 0, sizeof(*m));
        int rc = yp_oneshot_new(&m->tx, &m->rx, token_free);
        YP_FUZZ_CHECK(rc == 0, "yp_oneshot_new: %s", yp_strerror(rc));
        plain_t *pw = malloc(sizeof(*pw));
        pw->magic = PLAIN_MAGIC;
        pw->idx = wi;
        yp_waker_init(&pw->base, &plain_vtable, pw);
        w->pw[wi] = (pw_m){.ptr = pw, .in_use = 1, .refs = 1};
        m->waker = pw;
        m->widx = wi;
        m->in_use = m->tx_alive = m->rx_alive = 1;
        break;
    }
    case OP_CHAN_SEND:
    case OP_CHAN_TX_DROP: {
        chan_m *m = &w->chan[yp_fdp_range(p, 0, NCHAN - 1)];
        if (!m->in_use || !m->tx_alive) {
            break;
        }
        long before = w->pw[m->widx].woken;
        m->tx_alive = 0;
        if (op == OP_CHAN_SEND) {
            token_t *t = malloc(sizeof(*t));
            *t = (token_t){TOKEN_MAGIC, (int)(m - w->chan), 0};
            w->tokens_live++;
            int rc = yp_oneshot_send(m->tx, t);
            int want = m->rx_alive ? 0 : YP_ECANCELED;
            YP_FUZZ_CHECK(rc == want, "op %d: oneshot send: %s, model %s",
                          w->opno, yp_err_name(rc), yp_err_name(want));
            if (rc == 0) {
                m->sent = 1;
                m->token = t;
            }
        }
        else {
            yp_oneshot_tx_drop(m->tx);
            m->tx_dropped = 1;
        }
        m->tx = NULL;
        if (m->registered && m->rx_alive) {
            YP_FUZZ_CHECK(w->pw[m->widx].woken > before,
                          "op %d: oneshot %s did not wake the receiver's "
                          "registered waker", w->opno,
                          op == OP_CHAN_SEND ? "send" : "tx_drop");
        }
        w->pw[m->widx].wakes = w->pw[m->widx].woken;
        break;
    }
    case OP_CHAN_POLL: {
        chan_m *m = &w->chan[yp_fdp_range(p, 0, NCHAN - 1)];
        if (!m->in_use || !m->rx_alive) {
            break;
        }
        yp_context_t cx = {.waker = &m->waker->base};
        void *value = NULL;
        int rc = yp_oneshot_poll(m->rx, &cx, &value);
        int want;
        if (m->sent && !m->received) {
            want = YP_READY;
        }
        else if (m->received || m->tx_dropped) {
            want = YP_ECANCELED;
        }
        else {
            want = YP_PENDING;
        }
        YP_FUZZ_CHECK(rc == want, "op %d: oneshot poll returned %d, model "
                      "says %d", w->opno, rc, want);
        if (rc == YP_READY) {
            YP_FUZZ_CHECK(value == m->token, "op %d: oneshot poll gave a "
                          "different value", w->opno);
            m->received = 1;
            m->token = NULL;
            token_free(value);
        }
        else if (rc == YP_PENDING) {
            m->registered = 1;
        }
        break;
    }
    case OP_CHAN_RX_DROP: {
        chan_m *m = &w->chan[yp_fdp_range(p, 0, NCHAN - 1)];
        if (!m->in_use || !m->rx_alive) {
            break;
        }
        yp_oneshot_rx_drop(m->rx);
        m->rx = NULL;
        m->rx_alive = 0;
        break;
    }
    case OP_CHAN_IS_CANCELED: {
        chan_m *m = &w->chan[yp_fdp_range(p, 0, NCHAN - 1)];
        if (!m->in_use || !m->tx_alive) {
            break;
        }
        int got = yp_oneshot_tx_is_canceled(m->tx) != 0;
        YP_FUZZ_CHECK(got == !m->rx_alive, "op %d: tx_is_canceled = %d, "
                      "receiver alive = %d", w->opno, got, m->rx_alive);
        break;
    }
    case OP_TIMER_BAD: {
        static const double bad[] = {-1.0, -1e-9, NAN, -INFINITY};
        double s = bad[yp_fdp_range(p, 0, 3)];
        yp_timer_t *t = NULL;
        int rc = yp_timer_start(s, &t);
        YP_FUZZ_CHECK(rc == YP_EINVAL, "op %d: yp_timer_start(%g) = %s",
                      w->opno, s, yp_err_name(rc));
        ref_t ref;
        if (pick_waker(w, p, &ref) == 0) {
            size_t before = ref.kind == W_NOOP ? 1
                            : yp_waker_refcount(ref.ptr);
            rc = yp_wake_after(ref.ptr, s);
            YP_FUZZ_CHECK(rc == YP_EINVAL, "op %d: yp_wake_after(%g) = %s",
                          w->opno, s, yp_err_name(rc));
            YP_FUZZ_CHECK(ref.kind == W_NOOP
                              || yp_waker_refcount(ref.ptr) == before,
                          "op %d: failed yp_wake_after kept a reference",
                          w->opno);
        }
        break;
    }
    case OP_TIMER_PENDING: {
        /* A deadline far away: poll is PENDING, drop cancels it, and the
         * registered waker's clone is released by the drop. */
        yp_timer_t *t = NULL;
        if (yp_fdp_range(p, 0, 15) != 0) {
            break;   /* it wakes the timer thread: keep it rare (speed) */
        }
        int rc = yp_timer_start(3600.0, &t);
        if (rc == YP_ESHUTDOWN) {
            break;
        }
        YP_FUZZ_CHECK(rc == 0 && t != NULL, "yp_timer_start(3600): %s",
                      yp_err_name(rc));
        yp_context_t cx = {.waker = yp_waker_noop()};
        int r = yp_timer_poll(t, &cx);
        YP_FUZZ_CHECK(r == YP_PENDING, "op %d: a 1 h timer polled %d",
                      w->opno, r);
        yp_timer_drop(t);
        break;
    }
    default:
        break;
    }
}

/* Release everything the input created and check the end state. */
static void
world_finish(world_t *w)
{
    check_wakers(w);
    for (int c = 0; c < NCHAN; c++) {
        chan_m *m = &w->chan[c];
        if (!m->in_use) {
            continue;
        }
        if (m->tx_alive) {
            yp_oneshot_tx_drop(m->tx);
        }
        if (m->rx_alive) {
            yp_oneshot_rx_drop(m->rx);
        }
        /* Both handles gone: the channel released its waker clones. */
        pw_m *pm = &w->pw[m->widx];
        size_t rc = yp_waker_refcount(&m->waker->base);
        YP_FUZZ_CHECK(rc == 1, "oneshot %d freed but its waker has %zu "
                      "references (1 expected)", c, rc);
        m->in_use = 0;
        pm->wakes = pm->woken;
        yp_waker_drop(&m->waker->base);
        model_unref(w, W_PLAIN, m->widx);
    }
    YP_FUZZ_CHECK(w->tokens_live == 0, "%ld oneshot value(s) never freed",
                  w->tokens_live);
    for (int s = 0; s < NSLOT; s++) {
        if (w->slots[s].kind != W_NONE) {
            yp_waker_drop(w->slots[s].ptr);
            model_unref(w, w->slots[s].kind, w->slots[s].idx);
            w->slots[s].kind = W_NONE;
        }
    }
    for (int r = 0; r < NREF; r++) {
        if (w->refs[r].kind != W_NONE) {
            yp_waker_drop(w->refs[r].ptr);
            model_unref(w, w->refs[r].kind, w->refs[r].idx);
            w->refs[r].kind = W_NONE;
        }
    }
    for (int i = 0; i < NTW; i++) {
        if (w->tw[i].owned) {
            yp__taskwaker_kill(w->tw[i].ptr);
            w->tw[i].owned = 0;
            model_unref(w, W_TASK, i);
        }
        YP_FUZZ_CHECK(!w->tw[i].in_use, "task waker %d still referenced", i);
    }
    /* Every destroyed task waker released its link's queue reference:
     * ours is the last. */
    YP_FUZZ_CHECK(w->q_len == 0 && yp__wakeq_take(w->q) == NULL,
                  "wakers left on the wake queue");
    yp__wakeq_decref(w->q);
    w->q = NULL;
    YP_FUZZ_CHECK(yp__wakeq_live() == w->wq_live_base,
                  "wake queues leaked: %ld live, %ld before the input",
                  yp__wakeq_live(), w->wq_live_base);
    for (int i = 0; i < NPW; i++) {
        YP_FUZZ_CHECK(!w->pw[i].in_use, "plain waker %d still referenced",
                      i);
    }
    YP_FUZZ_CHECK(yp__taskwaker_live() == w->tw_live_base,
                  "task wakers leaked: %ld live, %ld before the input",
                  yp__taskwaker_live(), w->tw_live_base);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static world_t world;
    world_t *w = &world;
    yp_fdp_t p;

    memset(w, 0, sizeof(*w));
    W = w;
    w->tw_live_base = yp__taskwaker_live();
    w->wq_live_base = yp__wakeq_live();
    w->q = yp__wakeq_new(w);
    YP_FUZZ_CHECK(w->q != NULL, "yp__wakeq_new failed");
    for (int i = 0; i < NPROTO; i++) {
        yp__proto_init(&w->proto[i].real, i & 1);
        w->proto[i].state = YP__CR_CREATED;
        w->proto[i].has_cancel = i & 1;
    }
    for (int f = 0; f < NFLAG; f++) {
        w->flag[f] = (yp_borrowflag_t)YP_BORROWFLAG_INIT;
    }
    yp_fdp_init(&p, data, size);
    while (yp_fdp_remaining(&p) > 0 && w->opno < MAX_OPS) {
        unsigned op = (unsigned)yp_fdp_range(&p, 0, OP__COUNT - 1);
        run_op(w, &p, op);
        w->opno++;
        /* Cheap invariants after every step; the full check is an op. */
        if ((w->opno & 7) == 0) {
            check_wakers(w);
        }
    }
    world_finish(w);
    return 0;
}
