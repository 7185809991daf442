/*
 * yieldpoint/core.h -- the Python-free half of the public API.
 *
 * Do not include this file directly: include <yieldpoint.h>.  It is split
 * out so that the engine's protocol state machine, its wakers and its
 * channels can be compiled, fuzzed and model-checked without Python.h.
 *
 * Nothing declared here takes the GIL, and everything here is safe to call
 * from any thread unless a comment says otherwise.
 */
#ifndef YIELDPOINT_CORE_H
#define YIELDPOINT_CORE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define YP_VERSION_MAJOR 0
#define YP_VERSION_MINOR 1
#define YP_VERSION_PATCH 0
#define YP_VERSION_HEX \
    ((YP_VERSION_MAJOR << 16) | (YP_VERSION_MINOR << 8) | YP_VERSION_PATCH)

#if defined(__GNUC__)
#  define YP_EXTERN __attribute__((visibility("default")))
#else
#  define YP_EXTERN
#endif

/* ---------------------------------------------------------------------
 * Error codes.  C-level functions return 0 or one of these (negative).
 * Functions that talk to Python instead return NULL / -1 with a Python
 * exception set; the two conventions never mix in one function.
 */
#define YP_ERRNO_MAP(XX)                                                \
    XX(ENOMEM, -1, "out of memory")                                    \
    XX(ECANCELED, -2, "the other end of the channel was dropped")      \
    XX(EBORROWED, -3, "Already borrowed")                              \
    XX(EMUTBORROWED, -4, "Already mutably borrowed")                   \
    XX(EAGAIN, -5, "resource temporarily unavailable")                 \
    XX(ESHUTDOWN, -6, "the engine is shutting down")                   \
    XX(EINVAL, -7, "invalid argument")

typedef enum yp_errno {
#define YP__ERRNO_ENUM(name, value, text) YP_##name = (value),
    YP_ERRNO_MAP(YP__ERRNO_ENUM)
#undef YP__ERRNO_ENUM
} yp_errno_t;

/* Static strings; never NULL ("unknown error" for foreign codes). */
YP_EXTERN const char *yp_strerror(int err);
YP_EXTERN const char *yp_err_name(int err);

/* ---------------------------------------------------------------------
 * Poll results.  Same shape as CPython's PySendResult.
 */
typedef enum yp_poll {
    YP_ERROR = -1,   /* failed: a Python exception is set */
    YP_PENDING = 0,  /* not ready: the future will wake the context's waker */
    YP_READY = 1,    /* finished: the result out-parameter holds the value */
} yp_poll_t;

/* ---------------------------------------------------------------------
 * Wakers.
 *
 * A waker is a reference-counted, thread-safe handle that tells an
 * executor "poll this task again".  It is the C reading of Rust's
 * std::task::Waker: clone/wake/wake_by_ref/drop/will_wake, with the
 * behaviour supplied by a vtable so that other executors (the test
 * executor, other event loops) plug in.
 *
 * Rules, as in Rust:
 *  - waking is idempotent until the task is polled again: N wakes before
 *    the next poll cause one poll (wakes coalesce);
 *  - every wake is followed by at least one poll while the task is alive;
 *  - waking a finished, closed or freed task is a no-op;
 *  - wake/clone/drop may be called from any thread, concurrently.
 *
 * A waker's executor may take the GIL inside wake() (the asyncio one does
 * when it is woken from a foreign thread), so never wake while holding a
 * lock that a thread holding the GIL might wait for: move the waker out of
 * the locked region first (see yp_oneshot for the pattern).
 */
typedef struct yp_waker_s yp_waker_t;

typedef struct yp_waker_vtable_s {
    /* Schedule a poll.  Any thread; must not free the waker. */
    void (*wake)(yp_waker_t *waker);
    /* The last reference went away.  Any thread. */
    void (*destroy)(yp_waker_t *waker);
    /* Optional (NULL: add a reference and return the same waker).  Like
     * Rust's RawWakerVTable::clone it may return a *different* waker for
     * the same task, e.g. to move a waker that lives only for one poll to
     * the heap the first time somebody keeps it. */
    yp_waker_t *(*clone)(yp_waker_t *waker);
} yp_waker_vtable_t;

struct yp_waker_s {
    /* public */
    void *data;
    /* read-only */
    const yp_waker_vtable_t *vtable;
    /* private: atomic reference count, touched only through __atomic_*. */
    size_t refcnt;
};

/* Initialise an executor-owned waker with one reference. */
YP_EXTERN void yp_waker_init(yp_waker_t *waker,
                             const yp_waker_vtable_t *vtable, void *data);
/* Returns a waker for the same task that the caller owns one reference
 * to: usually `waker` itself with one more reference (see vtable->clone).
 * Always keep the returned pointer, never the argument. */
YP_EXTERN yp_waker_t *yp_waker_clone(yp_waker_t *waker);
/* Wake, then drop this reference (Rust's Waker::wake). */
YP_EXTERN void yp_waker_wake(yp_waker_t *waker);
/* Wake, keeping the reference (Rust's Waker::wake_by_ref). */
YP_EXTERN void yp_waker_wake_by_ref(yp_waker_t *waker);
/* Drop one reference; the last one calls vtable->destroy.  NULL is ok. */
YP_EXTERN void yp_waker_drop(yp_waker_t *waker);
/* Non-zero if waking `a` certainly wakes the same task as waking `b`.
 * Best effort: 0 may be a false negative.  NULL never will_wake. */
YP_EXTERN int yp_waker_will_wake(const yp_waker_t *a, const yp_waker_t *b);
/* A static waker whose wake does nothing; clone/drop are free. */
YP_EXTERN yp_waker_t *yp_waker_noop(void);
/* Current reference count (a racy snapshot, for tests and debugging). */
YP_EXTERN size_t yp_waker_refcount(const yp_waker_t *waker);

/* Convenience: store a clone of `waker` in `*slot` unless the waker
 * already there will_wake the same task (then nothing changes).  The
 * previous waker, if replaced, is dropped.  Not thread-safe on `slot`. */
YP_EXTERN void yp_waker_register(yp_waker_t **slot, yp_waker_t *waker);

/* ---------------------------------------------------------------------
 * Poll context: what a future receives in poll().  Valid only during
 * that call; clone the waker to keep it.
 */
typedef struct yp_context_s {
    /* read-only */
    yp_waker_t *waker;      /* borrowed for the duration of the poll */
    /* private */
    void *reserved[2];
} yp_context_t;

/* Borrowed: clone it to keep it past the poll. */
YP_EXTERN yp_waker_t *yp_context_waker(const yp_context_t *cx);

/* ---------------------------------------------------------------------
 * Oneshot channel: one value from any thread to one receiving future.
 * The Python-free equivalent of futures::channel::oneshot.
 *
 * yp_oneshot_new creates the channel and its two handles.  Each handle is
 * used by one thread at a time and consumed by exactly one of its
 * finishing calls (send / tx_drop; rx_drop).  The channel is freed when
 * both handles are gone.  A value sent but never received is passed to
 * `value_free` (if given) when the channel is freed.
 */
typedef struct yp_oneshot_s yp_oneshot_t;
typedef struct yp_oneshot_tx_s yp_oneshot_tx_t;
typedef struct yp_oneshot_rx_s yp_oneshot_rx_t;

YP_EXTERN int yp_oneshot_new(yp_oneshot_tx_t **tx, yp_oneshot_rx_t **rx,
                             void (*value_free)(void *value));
/* Send `value` and consume the sender.  Returns 0, or YP_ECANCELED if the
 * receiver is already gone (the value is then freed with value_free). */
YP_EXTERN int yp_oneshot_send(yp_oneshot_tx_t *tx, void *value);
/* Drop the sender without sending: the receiver sees YP_ECANCELED. */
YP_EXTERN void yp_oneshot_tx_drop(yp_oneshot_tx_t *tx);
/* Non-zero once the receiver is gone (a sender may stop early). */
YP_EXTERN int yp_oneshot_tx_is_canceled(const yp_oneshot_tx_t *tx);
/* Poll the receiver: YP_READY with *value set, YP_PENDING (cx's waker is
 * registered and will be woken by send or tx_drop), or YP_ECANCELED when
 * the sender was dropped without sending.  Polling again after YP_READY
 * returns YP_ECANCELED. */
YP_EXTERN int yp_oneshot_poll(yp_oneshot_rx_t *rx, yp_context_t *cx,
                              void **value);
YP_EXTERN void yp_oneshot_rx_drop(yp_oneshot_rx_t *rx);

/* ---------------------------------------------------------------------
 * Timers on one shared background OS thread.
 *
 * yp_timer_start arms a timer that fires after `seconds`.  Polling it
 * registers the context's waker; the timer thread wakes that waker when the
 * deadline passes.  yp_timer_drop cancels a timer that has not fired and
 * releases it; it is safe whether or not the timer fired.
 */
typedef struct yp_timer_s yp_timer_t;

/* Returns 0 and *out, or YP_ENOMEM / YP_EINVAL (negative or NaN seconds)
 * / YP_ESHUTDOWN (after yp_timer_shutdown). */
YP_EXTERN int yp_timer_start(double seconds, yp_timer_t **out);
/* YP_READY once the deadline passed, else YP_PENDING (waker registered). */
YP_EXTERN int yp_timer_poll(yp_timer_t *timer, yp_context_t *cx);
YP_EXTERN void yp_timer_drop(yp_timer_t *timer);
/* Wake a clone of `waker` after `seconds` from the timer thread.
 * Returns 0 or a negative YP_E* code (the waker is then not woken).
 * Nothing cancels it: the clone stays on the timer thread until the
 * deadline, and with it whatever holds the waker (a coroutine's waker
 * lives in the coroutine).  A future that may be dropped before then
 * should hold a yp_timer_start timer and yp_timer_drop it instead. */
YP_EXTERN int yp_wake_after(yp_waker_t *waker, double seconds);
/* Stop the timer thread; pending timers never fire and their wakers are
 * dropped.  Later starts fail with YP_ESHUTDOWN until yp_timer_restart.
 * Called by the Python binding when the interpreter finalizes. */
YP_EXTERN void yp_timer_shutdown(void);
YP_EXTERN void yp_timer_restart(void);

/* ---------------------------------------------------------------------
 * Borrow flags: the run-time borrow checker behind "&self / &mut self".
 * A flag is 0 when free, n > 0 with n shared borrows, -1 when borrowed
 * exclusively.  Not atomic: it is only touched with the GIL held.
 */
typedef struct yp_borrowflag_s {
    /* private */
    long state;
} yp_borrowflag_t;

#define YP_BORROWFLAG_INIT {0}

typedef enum yp_borrow_mode {
    YP_BORROW_SHARED = 1,     /* &self */
    YP_BORROW_EXCLUSIVE = 2,  /* &mut self */
} yp_borrow_mode_t;

/* Python-free forms: return 0 or YP_EMUTBORROWED (shared refused) /
 * YP_EBORROWED (exclusive refused).  The Python-facing forms that raise
 * RuntimeError are yp_borrow_acquire/yp_borrow_release in yieldpoint.h. */
YP_EXTERN int yp_borrowflag_try(yp_borrowflag_t *flag, yp_borrow_mode_t mode);
YP_EXTERN void yp_borrowflag_untry(yp_borrowflag_t *flag,
                                   yp_borrow_mode_t mode);
/* 0 free, n shared, -1 exclusive. */
YP_EXTERN long yp_borrowflag_state(const yp_borrowflag_t *flag);

#ifdef __cplusplus
}
#endif

#endif /* YIELDPOINT_CORE_H */
