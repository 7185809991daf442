/*
 * waker_threads.c -- fuzz target `waker_threads`: wakers under concurrency.
 *
 * A pool of NWORKERS threads (created once per process) runs, round after
 * round, an input-chosen list of clone/drop/wake/wake_by_ref/will_wake
 * operations on one task waker and one plain waker, while the owner
 * thread plays the coroutine: begin_poll, optionally a wake during the
 * poll, then arm.  After each round (all threads joined at a barrier) the
 * rules of internal.h's state diagram and core.h's waker contract are
 * checked:
 *   - arm returns ARMED or WOKEN, nothing else;
 *   - WOKEN (a wake landed during the poll): no notify this round;
 *   - ARMED: at most one notify; exactly one if any wake started after the
 *     arm was published (no lost wake); state FIRED iff notified;
 *   - every notify pushes the task waker onto a wake queue (as the
 *     foreign-wake hub does, from whichever thread won ARMED->FIRED); the
 *     owner drains the queue once while the workers run and once after:
 *     it delivers the task waker exactly as often as it was notified, and
 *     the pushes that found the queue empty equal the drains that found
 *     work;
 *   - the plain waker saw exactly as many wakes as were made;
 *   - reference counts equal the clones held; nobody destroys early;
 * and at the end of the input every waker is destroyed exactly once and
 * the live task waker and wake queue counts are back to their baselines
 * (the task waker's destroy releases its queue).
 * Built with ASan+UBSan under libFuzzer, and with TSan (YP_SANITIZE=thread
 * build, or fuzz/campaign waker_threads --tsan) where races are reported
 * as such.
 */
#include "fuzz_common.h"

#include "internal.h"

#include <pthread.h>
#include <sched.h>

#define NWORKERS 3
#define MAX_ROUNDS 8
#define MAX_WOPS 8
#define MAX_REPEAT 64
#define MAX_HELD 4

enum wop {
    W_CLONE_DROP_TW = 0,
    W_CLONE_DROP_PW,
    W_WAKE_TW,          /* clone, then wake (consumes the clone) */
    W_WAKE_PW,
    W_WAKE_BY_REF_TW,
    W_WAKE_BY_REF_PW,
    W_HOLD_TW,          /* keep a clone across rounds */
    W_HOLD_PW,
    W_DROP_HELD,
    W_WILL_WAKE,
    W__COUNT
};

typedef struct {
    unsigned char op;
    unsigned char repeat;
} wop_t;

typedef struct {
    wop_t ops[MAX_WOPS];
    int nops;
    yp_waker_t *held[MAX_HELD];
    int nheld_tw, nheld_pw;
    int nheld;
    long pw_wakes;          /* wakes this worker made on the plain waker */
    int late_wake;          /* a task waker wake started after the arm */
    pthread_t thread;
} worker_t;

typedef struct {
    yp_waker_t base;
    long woken;             /* atomic */
    int destroyed;          /* atomic */
} plain_t;

/* A sense-reversing barrier on atomics: pthread barriers are not modelled
 * as synchronisation by every TSan version, and the harness's own
 * hand-offs must not show up as races. */
typedef struct {
    int count;        /* atomic */
    int generation;   /* atomic */
    int parties;
} barrier_t;

static void
barrier_init(barrier_t *b, int parties)
{
    b->count = 0;
    b->generation = 0;
    b->parties = parties;
}

static void
barrier_wait(barrier_t *b)
{
    int gen = __atomic_load_n(&b->generation, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == b->parties) {
        __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
        __atomic_fetch_add(&b->generation, 1, __ATOMIC_ACQ_REL);
        return;
    }
    while (__atomic_load_n(&b->generation, __ATOMIC_ACQUIRE) == gen) {
        sched_yield();
    }
}

static struct {
    barrier_t start, end;
    int quit;
    worker_t w[NWORKERS];
    yp__taskwaker_t *tw;
    plain_t *pw;
    int armed_round;        /* atomic: round whose arm returned ARMED */
    int round;
    long notified;          /* atomic */
    yp__wakeq_t *q;         /* the task waker's wake queue */
    long firsts;            /* atomic: pushes that found the queue empty */
} S;

static void
notify_cb(yp__taskwaker_t *tw)
{
    __atomic_fetch_add(&S.notified, 1, __ATOMIC_ACQ_REL);
    if (yp__wakeq_push(S.q, &tw->link)) {
        __atomic_fetch_add(&S.firsts, 1, __ATOMIC_ACQ_REL);
    }
}

/* The owner's drain, as the hub's on the loop thread: returns how many
 * links it delivered, and counts a take that found work in *takes. */
static long
drain_queue(long *takes)
{
    yp__wakeq_link_t *link = yp__wakeq_take(S.q);
    long n = 0;
    *takes += link != NULL;
    while (link != NULL) {
        yp__wakeq_link_t *next = yp__wakeq_next(link);
        YP_FUZZ_CHECK(link == &S.tw->link, "the wake queue gave a foreign "
                      "link %p", (void *)link);
        yp_waker_drop(link->waker);
        n++;
        link = next;
    }
    return n;
}

static void
plain_wake(yp_waker_t *w)
{
    plain_t *p = (plain_t *)w;
    YP_FUZZ_CHECK(!__atomic_load_n(&p->destroyed, __ATOMIC_ACQUIRE),
                  "a plain waker was woken after its destroy");
    __atomic_fetch_add(&p->woken, 1, __ATOMIC_RELAXED);
}

static void
plain_destroy(yp_waker_t *w)
{
    plain_t *p = (plain_t *)w;
    int was = __atomic_exchange_n(&p->destroyed, 1, __ATOMIC_ACQ_REL);
    YP_FUZZ_CHECK(!was, "a plain waker was destroyed twice");
    /* Freed by the harness after the input, so an early destroy is
     * reported by the checks rather than as a use-after-free. */
}

static const yp_waker_vtable_t plain_vtable = {
    .wake = plain_wake,
    .destroy = plain_destroy,
};

static void
worker_run(worker_t *me)
{
    yp_waker_t *tw = &S.tw->base, *pw = &S.pw->base;
    for (int i = 0; i < me->nops; i++) {
        int n = me->ops[i].repeat;
        for (int k = 0; k < n; k++) {
            switch (me->ops[i].op) {
            case W_CLONE_DROP_TW:
                yp_waker_drop(yp_waker_clone(tw));
                break;
            case W_CLONE_DROP_PW:
                yp_waker_drop(yp_waker_clone(pw));
                break;
            case W_WAKE_TW:
            case W_WAKE_BY_REF_TW: {
                if (__atomic_load_n(&S.armed_round, __ATOMIC_ACQUIRE)
                    == S.round)
                {
                    me->late_wake = 1;
                }
                yp_waker_t *c = yp_waker_clone(tw);
                if (me->ops[i].op == W_WAKE_TW) {
                    yp_waker_wake(c);
                }
                else {
                    yp_waker_wake_by_ref(c);
                    yp_waker_drop(c);
                }
                break;
            }
            case W_WAKE_PW:
                yp_waker_wake(yp_waker_clone(pw));
                me->pw_wakes++;
                break;
            case W_WAKE_BY_REF_PW:
                yp_waker_wake_by_ref(pw);
                me->pw_wakes++;
                break;
            case W_HOLD_TW:
            case W_HOLD_PW:
                if (me->nheld < MAX_HELD) {
                    int is_tw = me->ops[i].op == W_HOLD_TW;
                    me->held[me->nheld++] = yp_waker_clone(is_tw ? tw : pw);
                    if (is_tw) {
                        me->nheld_tw++;
                    }
                    else {
                        me->nheld_pw++;
                    }
                }
                break;
            case W_DROP_HELD:
                if (me->nheld > 0) {
                    yp_waker_t *h = me->held[--me->nheld];
                    if (h == tw) {
                        me->nheld_tw--;
                    }
                    else {
                        me->nheld_pw--;
                    }
                    yp_waker_drop(h);
                }
                break;
            case W_WILL_WAKE:
                YP_FUZZ_CHECK(yp_waker_will_wake(tw, tw)
                                  && !yp_waker_will_wake(tw, pw),
                              "will_wake wrong under concurrency");
                break;
            default:
                break;
            }
        }
    }
}

static void *
worker_main(void *arg)
{
    worker_t *me = arg;
    for (;;) {
        barrier_wait(&S.start);
        if (__atomic_load_n(&S.quit, __ATOMIC_ACQUIRE)) {
            return NULL;
        }
        worker_run(me);
        barrier_wait(&S.end);
    }
}

static void
stop_pool(void)
{
    __atomic_store_n(&S.quit, 1, __ATOMIC_RELEASE);
    barrier_wait(&S.start);
    for (int i = 0; i < NWORKERS; i++) {
        pthread_join(S.w[i].thread, NULL);
    }
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    barrier_init(&S.start, NWORKERS + 1);
    barrier_init(&S.end, NWORKERS + 1);
    for (int i = 0; i < NWORKERS; i++) {
        if (pthread_create(&S.w[i].thread, NULL, worker_main, &S.w[i])) {
            YP_FUZZ_FAIL("pthread_create failed");
        }
    }
    atexit(stop_pool);   /* joined threads keep LSan and TSan quiet */
    return 0;
}

static void
decode_round(yp_fdp_t *p)
{
    for (int i = 0; i < NWORKERS; i++) {
        worker_t *w = &S.w[i];
        w->nops = (int)yp_fdp_range(p, 0, MAX_WOPS);
        for (int k = 0; k < w->nops; k++) {
            w->ops[k].op = (unsigned char)yp_fdp_range(p, 0, W__COUNT - 1);
            w->ops[k].repeat = (unsigned char)yp_fdp_range(p, 1, MAX_REPEAT);
        }
        w->late_wake = 0;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    yp_fdp_t p;
    yp_fdp_init(&p, data, size);
    if (size == 0) {
        return 0;
    }
    long live_base = yp__taskwaker_live();
    long wq_live_base = yp__wakeq_live();
    S.q = yp__wakeq_new(&S);
    S.tw = yp__taskwaker_new(notify_cb, &S);
    S.pw = calloc(1, sizeof(*S.pw));
    YP_FUZZ_CHECK(S.q != NULL && S.tw != NULL && S.pw != NULL,
                  "out of memory");
    yp__wakeq_bind(&S.tw->link, S.q);
    S.firsts = 0;
    long takes = 0;
    yp_waker_init(&S.pw->base, &plain_vtable, S.pw);
    S.notified = 0;
    S.armed_round = -1;
    long pw_wakes = 0;
    int nrounds = (int)yp_fdp_range(&p, 1, MAX_ROUNDS);

    for (int r = 0; r <= nrounds; r++) {
        int last = r == nrounds;
        if (last) {
            /* Final round: every worker drops what it holds. */
            for (int i = 0; i < NWORKERS; i++) {
                S.w[i].nops = 1;
                S.w[i].ops[0] = (wop_t){W_DROP_HELD, MAX_HELD};
                S.w[i].late_wake = 0;
            }
        }
        else {
            decode_round(&p);
        }
        int wake_in_poll = !last && yp_fdp_range(&p, 0, 3) == 0;
        S.round = r;
        yp__taskwaker_begin_poll(S.tw);
        long before = __atomic_load_n(&S.notified, __ATOMIC_ACQUIRE);
        barrier_wait(&S.start);
        /* The owner's "poll" runs concurrently with the workers. */
        if (wake_in_poll) {
            yp_waker_wake_by_ref(&S.tw->base);
        }
        yp__tw_state_t armed = yp__taskwaker_arm(S.tw);
        if (armed == YP__TW_ARMED) {
            __atomic_store_n(&S.armed_round, r, __ATOMIC_RELEASE);
        }
        /* A drain racing the workers' pushes, then one with them done. */
        long delivered = drain_queue(&takes);
        barrier_wait(&S.end);
        delivered += drain_queue(&takes);

        long n = __atomic_load_n(&S.notified, __ATOMIC_ACQUIRE) - before;
        int late = 0;
        int held_tw = 0, held_pw = 0;
        for (int i = 0; i < NWORKERS; i++) {
            late |= S.w[i].late_wake;
            held_tw += S.w[i].nheld_tw;
            held_pw += S.w[i].nheld_pw;
            pw_wakes += S.w[i].pw_wakes;
            S.w[i].pw_wakes = 0;
        }
        yp__tw_state_t st = yp__taskwaker_state(S.tw);
        YP_FUZZ_CHECK(armed == YP__TW_ARMED || armed == YP__TW_WOKEN,
                      "round %d: arm returned %s", r,
                      yp__tw_state_name(armed));
        YP_FUZZ_CHECK(!(wake_in_poll && armed != YP__TW_WOKEN),
                      "round %d: a wake during the poll, yet arm returned "
                      "%s", r, yp__tw_state_name(armed));
        if (armed == YP__TW_WOKEN) {
            YP_FUZZ_CHECK(n == 0, "round %d: %ld notifies without an arm",
                          r, n);
            YP_FUZZ_CHECK(st == YP__TW_WOKEN, "round %d: WOKEN arm, state "
                          "%s", r, yp__tw_state_name(st));
        }
        else {
            YP_FUZZ_CHECK(n <= 1, "round %d: %ld notifies for one arming",
                          r, n);
            YP_FUZZ_CHECK(!late || n == 1, "round %d: a wake after the arm "
                          "was lost (no notify)", r);
            YP_FUZZ_CHECK(st == (n ? YP__TW_FIRED : YP__TW_ARMED),
                          "round %d: %ld notifies but state %s", r, n,
                          yp__tw_state_name(st));
        }
        YP_FUZZ_CHECK(delivered == n, "round %d: %ld notifies, but the wake "
                      "queue delivered %ld", r, n, delivered);
        YP_FUZZ_CHECK(__atomic_load_n(&S.firsts, __ATOMIC_ACQUIRE) == takes,
                      "round %d: %ld pushes found the wake queue empty, %ld "
                      "drains found work", r, S.firsts, takes);
        YP_FUZZ_CHECK(__atomic_load_n(&S.pw->woken, __ATOMIC_ACQUIRE)
                          == pw_wakes,
                      "round %d: plain waker woken %ld times, %ld wakes "
                      "made", r, S.pw->woken, pw_wakes);
        YP_FUZZ_CHECK(yp_waker_refcount(&S.tw->base) == (size_t)held_tw + 1,
                      "round %d: task waker refcount %zu, %d clones held + "
                      "the owner's", r, yp_waker_refcount(&S.tw->base),
                      held_tw);
        YP_FUZZ_CHECK(yp_waker_refcount(&S.pw->base) == (size_t)held_pw + 1,
                      "round %d: plain waker refcount %zu, %d clones held + "
                      "ours", r, yp_waker_refcount(&S.pw->base), held_pw);
        YP_FUZZ_CHECK(!S.pw->destroyed, "round %d: plain waker destroyed "
                      "while referenced", r);
    }
    yp__taskwaker_kill(S.tw);
    S.tw = NULL;
    YP_FUZZ_CHECK(yp__taskwaker_live() == live_base,
                  "task waker not destroyed at its last drop (%ld live, %ld "
                  "before)", yp__taskwaker_live(), live_base);
    yp__wakeq_decref(S.q);
    S.q = NULL;
    YP_FUZZ_CHECK(yp__wakeq_live() == wq_live_base,
                  "wake queue not freed: the task waker's destroy kept its "
                  "reference (%ld live, %ld before)", yp__wakeq_live(),
                  wq_live_base);
    yp_waker_drop(&S.pw->base);
    YP_FUZZ_CHECK(S.pw->destroyed, "plain waker not destroyed at its last "
                  "drop");
    free(S.pw);
    S.pw = NULL;
    return 0;
}
