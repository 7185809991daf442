/*
 * internal.h -- private to the engine's Python-free core.  Never installed.
 *
 * The core holds the protocol state machine (what a coroutine does on
 * send/throw/close/finalize), the task waker's atomic state machine, the
 * wake queue, and the building blocks (oneshot, timers).  Its layers, low
 * to high, are in docs/layers.md (checked by tools/layers.py).  None of it includes Python.h, so
 * the fuzzers and the model checks drive it directly.
 */
#ifndef YP_CORE_INTERNAL_H
#define YP_CORE_INTERNAL_H

/* Every core file includes this header first, so this comes before any
 * system header: glibc's error-checking static mutex initialiser (see
 * "Mutexes" below) is a GNU extension. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "yieldpoint/core.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------
 * Mutexes: pthread's, with every failure fatal (libuv's uv_mutex_lock
 * rule).  A lock call that fails means a locking bug or corrupt memory;
 * carrying on would turn it into a silent race.  Checked builds (no
 * NDEBUG: the asan, tsan, valgrind and pydebug presets) make them
 * PTHREAD_MUTEX_ERRORCHECK, so unlocking a mutex this thread does not
 * hold, or locking one it holds, fails -- and aborts -- at the faulty call
 * instead of corrupting the lock's state: a deleted lock or unlock is a
 * crash the gates see, not a race that waits for the right interleaving.
 * Release builds keep the default type (its lock and unlock are the
 * fastest). */
#ifdef NDEBUG
#define YP__MUTEX_CHECKED 0
#else
#define YP__MUTEX_CHECKED 1
#endif
/* For a static mutex (glibc's, a GNU extension: _GNU_SOURCE above). */
#if YP__MUTEX_CHECKED && defined(PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP)
#define YP__MUTEX_INITIALIZER PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP
#else
#define YP__MUTEX_INITIALIZER PTHREAD_MUTEX_INITIALIZER
#endif

/* 0, or an errno value (the mutex is then unusable). */
static inline int
yp__mutex_init(pthread_mutex_t *m)
{
#if YP__MUTEX_CHECKED
    pthread_mutexattr_t attr;
    int err = pthread_mutexattr_init(&attr);
    if (err != 0) {
        return err;
    }
    err = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
    if (err == 0) {
        err = pthread_mutex_init(m, &attr);
    }
    pthread_mutexattr_destroy(&attr);
    return err;
#else
    return pthread_mutex_init(m, NULL);
#endif
}

/* Says which call failed and why (EDEADLK: locked twice; EPERM: unlocked
 * without holding it), then aborts: the crash report starts there. */
static inline void
yp__mutex_fail(const char *call, int err)
{
    fprintf(stderr, "yieldpoint: %s failed: %s\n", call, strerror(err));
    abort();
}

static inline void
yp__mutex_lock(pthread_mutex_t *m)
{
    int err = pthread_mutex_lock(m);
    if (err != 0) {
        yp__mutex_fail("pthread_mutex_lock", err);
    }
}

static inline void
yp__mutex_unlock(pthread_mutex_t *m)
{
    int err = pthread_mutex_unlock(m);
    if (err != 0) {
        yp__mutex_fail("pthread_mutex_unlock", err);
    }
}

#define YP__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define YP__CONTAINER_OF(ptr, type, member) \
    ((type *)((char *)(ptr) - offsetof(type, member)))

/* ---------------------------------------------------------------------
 * Fault injection.  A fault variant (cmake/YpFaults.cmake) is compiled
 * with -DYP_FAULT_<NAME>, which defines YP_FAULT_<NAME> as 1.
 * YP_FAULT(NAME) is then 1 for that one name and 0 for all others: a
 * constant the compiler folds away, so a fault site is one ordinary line,
 *
 *     if (YP_FAULT(NAME)) { ...the planted bug... }
 *
 * and a normal build carries no fault code.  How it tests "is defined"
 * (the Linux kernel's IS_ENABLED trick): a defined YP_FAULT_<NAME> pastes
 * into YP__FAULT_ON_1, which expands to "0," and shifts 1 into the second
 * argument slot; an undefined one pastes into an unknown token, which
 * leaves 0 there.  A misspelt NAME therefore reads as 0: the ctest
 * faults.sites checks every site against the list in YpFaults.cmake.
 */
#define YP_FAULT(NAME) YP__FAULT_VALUE(YP_FAULT_##NAME)
#define YP__FAULT_VALUE(v) YP__FAULT_PASTE(v)
#define YP__FAULT_PASTE(v) YP__FAULT_PICK(YP__FAULT_ON_##v)
#define YP__FAULT_ON_1 0,
#define YP__FAULT_PICK(on_or_junk) YP__FAULT_SECOND(on_or_junk 1, 0, ~)
#define YP__FAULT_SECOND(ignored, value, ...) value

#if defined(__GNUC__)
#  define YP__LIKELY(x) __builtin_expect(!!(x), 1)
#  define YP__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#  define YP__LIKELY(x) (x)
#  define YP__UNLIKELY(x) (x)
#endif

/* ---------------------------------------------------------------------
 * Protocol state machine.
 *
 * One coroutine's life: CREATED (never polled) -> SUSPENDED (polled,
 * pending) -> FINISHED, with RUNNING while a poll is on the stack.  Each
 * Python-level operation asks yp__proto_begin what to do (which also moves
 * the state for every action but a poll's outcome); the binding performs
 * the action and, after a poll, reports its outcome with
 * yp__proto_end_poll.  Keeping the decisions here means the fuzzer's model
 * and the binding can never disagree about them.
 */
typedef enum yp__cr_state {
    YP__CR_CREATED = 0,   /* new, never polled (warns if freed like this) */
    YP__CR_SUSPENDED,     /* polled at least once, returned PENDING */
    YP__CR_RUNNING,       /* a poll is on the stack */
    YP__CR_FINISHED,      /* the future was dropped: done, failed, closed */
} yp__cr_state_t;

typedef enum yp__op {
    YP__OP_SEND = 0,      /* send(v), __next__, am_send */
    YP__OP_THROW,         /* throw(...) */
    YP__OP_CLOSE,         /* close() */
    YP__OP_FINALIZE,      /* the object is being freed */
} yp__op_t;

typedef enum yp__action {
    YP__ACT_POLL = 0,       /* poll the future (state is now RUNNING) */
    YP__ACT_CANCEL_POLL,    /* store the exception in the cancel handle,
                               wake it, then poll (state is RUNNING) */
    YP__ACT_DROP_RAISE,     /* drop the future, raise the thrown exception */
    YP__ACT_DROP,           /* drop the future silently */
    YP__ACT_DROP_WARN,      /* warn "never awaited", then drop */
    YP__ACT_NOOP,           /* nothing to do (close/finalize when done) */
    YP__ACT_ERR_RUNNING,    /* ValueError: coroutine already executing */
    YP__ACT_ERR_REUSE,      /* RuntimeError: cannot reuse already awaited */
} yp__action_t;

typedef struct yp__proto_s {
    unsigned char state;          /* yp__cr_state_t */
    unsigned char has_cancel;     /* throw goes to a cancel handle */
} yp__proto_t;

/* Initialise: CREATED. */
static inline void
yp__proto_init(yp__proto_t *p, int has_cancel)
{
    p->state = YP__CR_CREATED;
    p->has_cancel = has_cancel != 0;
}

/* Decide and, for POLL/CANCEL_POLL, enter RUNNING; for DROP* actions,
 * enter FINISHED.  Error and NOOP actions leave the state unchanged.
 * Inline: it sits on every send, and the fuzzer's model calls the same
 * code. */
static inline yp__action_t
yp__proto_begin(yp__proto_t *p, yp__op_t op)
{
    yp__cr_state_t s = (yp__cr_state_t)p->state;

    if (YP__LIKELY(op == YP__OP_SEND)
        && (s == YP__CR_SUSPENDED || s == YP__CR_CREATED))
    {
        p->state = YP__CR_RUNNING;
        return YP__ACT_POLL;
    }
    if (s == YP__CR_RUNNING) {
        /* Re-entrant call from inside our own poll.  Finalize cannot get
         * here: the object is referenced while it runs. */
        return op == YP__OP_FINALIZE ? YP__ACT_NOOP : YP__ACT_ERR_RUNNING;
    }
    if (s == YP__CR_FINISHED) {
        if (op == YP__OP_SEND || op == YP__OP_THROW) {
            return YP_FAULT(REUSE_ERROR_MISSING) ? YP__ACT_NOOP
                                                 : YP__ACT_ERR_REUSE;
        }
        return YP__ACT_NOOP;
    }
    switch (op) {
    case YP__OP_THROW:
        if (p->has_cancel) {
            p->state = YP__CR_RUNNING;
            return YP__ACT_CANCEL_POLL;
        }
        p->state = YP__CR_FINISHED;
        return YP__ACT_DROP_RAISE;
    case YP__OP_CLOSE:
        p->state = YP__CR_FINISHED;
        return YP__ACT_DROP;
    case YP__OP_FINALIZE:
    default:
        p->state = YP__CR_FINISHED;
        return s == YP__CR_CREATED ? YP__ACT_DROP_WARN : YP__ACT_DROP;
    }
}

/* After a poll: PENDING -> SUSPENDED; READY or ERROR -> FINISHED (the
 * caller drops the future). */
static inline void
yp__proto_end_poll(yp__proto_t *p, yp_poll_t outcome)
{
    p->state = outcome == YP_PENDING ? YP__CR_SUSPENDED : YP__CR_FINISHED;
}
const char *yp__action_name(yp__action_t a);
const char *yp__cr_state_name(yp__cr_state_t s);

/* ---------------------------------------------------------------------
 * Registering a waker under a lock (waker.c).
 *
 * The rule of oneshot.c and timer.c: no waker is cloned, woken or dropped
 * with their mutex held (a vtable's clone, wake or destroy may take the
 * GIL, and the GIL holder may be waiting for that mutex).  A poll that
 * must store the context's waker in a slot the mutex guards therefore
 * clones with the mutex released and then re-checks its state, which may
 * have changed meanwhile.  The pattern, written once:
 *
 *     yp__waker_reg_t reg = YP__WAKER_REG_INIT;
 *     yp__mutex_lock(&lock);
 *     do {
 *         if (ready) { reg.stale = slot; slot = NULL; result = ...; break; }
 *         result = YP_PENDING;
 *     } while (!yp__waker_register_locked(&reg, &slot, w, &lock));
 *     yp__mutex_unlock(&lock);
 *     yp__waker_reg_finish(&reg);
 */
typedef struct yp__waker_reg_s {
    yp_waker_t *fresh;   /* owned: our clone of w, made unlocked, unused yet */
    yp_waker_t *stale;   /* owned: taken out of the slot, dropped unlocked */
} yp__waker_reg_t;

#define YP__WAKER_REG_INIT {.fresh = NULL, .stale = NULL}

/* Caller holds *lock.  Make *slot a waker that wakes the task of `w`
 * (yp_waker_register semantics: a will_wake waker stays, so re-polling
 * costs no clone).  Returns 1 when done, the lock held throughout.
 * Returns 0 after unlocking *lock to clone `w` and locking it again: the
 * caller must re-check its state and call again (or break out, and the
 * unused clone is dropped by yp__waker_reg_finish). */
int yp__waker_register_locked(yp__waker_reg_t *reg, yp_waker_t **slot,
                              yp_waker_t *w, pthread_mutex_t *lock);
/* After unlocking: drop what the registration displaced or left unused. */
void yp__waker_reg_finish(yp__waker_reg_t *reg);

/* ---------------------------------------------------------------------
 * Wake queue (wakeq.c): foreign-thread wakes for one event loop, batched.
 *
 * A multi-producer, single-consumer intrusive stack of wakers.  Any
 * thread pushes; only the loop's thread (with the GIL) takes, and it
 * takes everything at once.  yp__wakeq_push returns 1 when the queue was
 * empty: that pusher, and only it, must make sure a take follows (the
 * binding schedules one drain on the loop).  Every push made while a
 * drain is pending rides along with it, so N wakes from a thread cost one
 * loop wake-up, not N.
 *
 * A waker takes part through a link embedded next to it: the queue
 * binding.  The queue knows wakers only through the generic API
 * (waker.c); the task waker (taskwaker.c) embeds a link, never the
 * reverse.
 */
typedef struct yp__wakeq_s yp__wakeq_t;
typedef struct yp__wakeq_link_s yp__wakeq_link_t;

struct yp__wakeq_link_s {
    /* The waker this link belongs to: not a reference (the link lives
     * inside it).  Its vtable must have no clone of its own, so that a
     * yp_waker_clone of it is one more count on this same object: the
     * list's reference. */
    yp_waker_t *waker;
    /* `wakeq` is set once, with the GIL, before the first arm and never
     * changed, so a notifier that won ARMED->FIRED may read it without a
     * lock.  `loop_thread` is the thread of the loop the waker was last
     * armed on (relaxed atomic: a stale value only selects the slower,
     * still correct, path). */
    yp__wakeq_t *wakeq;          /* owned ref, or NULL */
    unsigned long loop_thread;   /* atomic */
    int queued;                  /* atomic: on wakeq's list right now */
    yp__wakeq_link_t *next;      /* the list link */
};

struct yp__wakeq_s {
    yp__wakeq_link_t *head;  /* atomic */
    long refcnt;             /* atomic: the owner + every bound link */
    void *owner;             /* binding's hub object; GIL-guarded */
};

yp__wakeq_t *yp__wakeq_new(void *owner);   /* one reference, or NULL */
void yp__wakeq_incref(yp__wakeq_t *q);
void yp__wakeq_decref(yp__wakeq_t *q);
/* An unbound link for `waker` (which embeds it). */
void yp__wakeq_link_init(yp__wakeq_link_t *link, yp_waker_t *waker);
/* Bind `link` to `q` for life (the link takes a queue reference); a
 * no-op if it is bound already.  GIL held, before the waker is armed. */
void yp__wakeq_bind(yp__wakeq_link_t *link, yp__wakeq_t *q);
/* The waker is being destroyed: drop the link's queue reference. */
void yp__wakeq_link_release(yp__wakeq_link_t *link);
/* Queue `link` unless it is queued already; the queue takes a reference
 * to link->waker for it.  Returns 1 if this push made the queue
 * non-empty. */
int yp__wakeq_push(yp__wakeq_t *q, yp__wakeq_link_t *link);
/* Take every queued link, oldest first.  Walk the list only with
 * yp__wakeq_next(link), which returns the next link and then lets `link`
 * be queued again.  Each link carries one reference to its waker, which
 * the caller drops after delivering it. */
yp__wakeq_link_t *yp__wakeq_take(yp__wakeq_t *q);
yp__wakeq_link_t *yp__wakeq_next(yp__wakeq_link_t *link);
/* Process-wide count of queues not yet freed, for leak tests. */
long yp__wakeq_live(void);

/* ---------------------------------------------------------------------
 * Task waker (taskwaker.c): the waker a coroutine hands its future.
 *
 * One per coroutine, embedded in it (yp__taskwaker_init) and reused for
 * every poll, so will_wake holds across polls and re-registration is
 * free.  The coroutine stops it (DEAD) when it finishes, after which
 * wakes are no-ops; its memory outlives the coroutine object while a
 * future's clone is still out (any thread may drop the last one).  The
 * heap form (yp__taskwaker_new) is the same machine for the core's own
 * tests and fuzzers.
 *
 *   POLLING --wake--> WOKEN        (woken during poll: yield to the loop)
 *   POLLING --arm---> ARMED        (poll returned PENDING, loop future set)
 *   ARMED   --wake--> FIRED + notify(): exactly one notify per arming
 *   WOKEN/FIRED --wake--> unchanged (wakes coalesce)
 *   any     --begin_poll--> POLLING (unless DEAD)
 *   any     --kill--> DEAD          (wakes are no-ops forever)
 */
typedef enum yp__tw_state {
    YP__TW_POLLING = 0,
    YP__TW_WOKEN,
    YP__TW_ARMED,
    YP__TW_FIRED,
    YP__TW_DEAD,
} yp__tw_state_t;

typedef struct yp__taskwaker_s yp__taskwaker_t;

/* Called once per ARMED->FIRED transition, on the waking thread, with no
 * engine lock held.  The binding attaches to the interpreter here. */
typedef void (*yp__notify_fn)(yp__taskwaker_t *tw);

struct yp__taskwaker_s {
    yp_waker_t base;         /* data: the owner (coroutine), GIL-guarded */
    int state;               /* yp__tw_state_t, atomic */
    yp__notify_fn notify;
    yp__wakeq_link_t link;   /* foreign-wake batching; link.waker == &base */
};

/* Returns a task waker with one reference (the owner's), in POLLING
 * state, with an unbound queue link, or NULL on memory error. */
yp__taskwaker_t *yp__taskwaker_new(yp__notify_fn notify, void *owner);
/* A task waker embedded in its owner (the coroutine, which saves a heap
 * block per coroutine): as yp__taskwaker_new, in `tw`'s memory.  The
 * owner's `vtable` has .wake = yp__taskwaker_wake and a .destroy that
 * calls yp__taskwaker_release and then frees the owner; the owner keeps
 * its one reference until it is itself freed (yp__taskwaker_stop, not
 * kill, when it is done with waking). */
void yp__taskwaker_init(yp__taskwaker_t *tw, const yp_waker_vtable_t *vtable,
                        yp__notify_fn notify, void *owner);
/* Every task waker's wake (the state machine above). */
void yp__taskwaker_wake(yp_waker_t *waker);
/* What destroy does before the memory goes: unbind the queue link. */
void yp__taskwaker_release(yp__taskwaker_t *tw);
/* Non-zero if the caller's reference is the only one (acquire): no clone
 * is out, and none can appear. */
int yp__taskwaker_sole(const yp__taskwaker_t *tw);
void yp__taskwaker_begin_poll(yp__taskwaker_t *tw);
/* The poll returned PENDING.  Returns YP__TW_WOKEN if a wake arrived
 * during the poll (nothing armed), else YP__TW_ARMED. */
yp__tw_state_t yp__taskwaker_arm(yp__taskwaker_t *tw);
/* DEAD: every later wake is a no-op. */
void yp__taskwaker_stop(yp__taskwaker_t *tw);
/* DEAD, and drop the owner's reference. */
void yp__taskwaker_kill(yp__taskwaker_t *tw);
yp__tw_state_t yp__taskwaker_state(const yp__taskwaker_t *tw);
const char *yp__tw_state_name(yp__tw_state_t s);

/* Process-wide count of heap task wakers (yp__taskwaker_new) not yet
 * destroyed, for leak tests. */
long yp__taskwaker_live(void);

/* ---------------------------------------------------------------------
 * Oneshot and timer internals (oneshot.c, timer.c), for leak tests.
 */

/* Process-wide count of channels not yet freed (both handles alive or
 * one of them). */
long yp__oneshot_live(void);
/* Process-wide count of timer objects not yet freed: yp_timer_start
 * handles not yet dropped, plus queued yp_wake_after entries. */
long yp__timer_live(void);
/* Timers currently queued on the timer thread's heap. */
size_t yp__timer_pending(void);
/* For tests, read together under the timer lock: how many pushes so far
 * had to signal the sleeping timer thread, and what that thread sleeps
 * until (0 awake or no thread, UINT64_MAX untimed, else a CLOCK_MONOTONIC
 * deadline in ns). */
void yp__timer_sleep_state(unsigned long *signals, uint64_t *sleep_until);

#endif /* YP_CORE_INTERNAL_H */
