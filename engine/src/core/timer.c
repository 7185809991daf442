/*
 * timer.c -- timers on one shared, lazily started background thread.
 *
 * A binary min-heap of deadlines (CLOCK_MONOTONIC nanoseconds) guarded by
 * one mutex; the thread sleeps on a condition variable until the earliest
 * deadline or until a new earliest timer is pushed.  Push, pop and cancel
 * are O(log n): each timer remembers its heap index, so cancelling one in
 * the middle needs no search.  That is what lets a million sleeping
 * coroutines share the thread.
 *
 * Ownership.  A timer from yp_timer_start is referenced by the user's
 * handle and, while queued, by the heap; a timer from yp_wake_after only
 * by the heap.  `refs` is guarded by the mutex (every change to it happens
 * together with a heap change, which needs the mutex anyway), so it is a
 * plain int.
 *
 * The waker rule (see core.h): a wake may take the GIL, and the thread
 * that holds the GIL may be blocked on our mutex in yp_timer_start or
 * yp_timer_poll.  So no waker is ever woken, dropped or cloned with the
 * mutex held (a drop may run destroy, and a vtable may supply its own
 * clone; either may want the GIL).  The thread moves due wakers into a
 * local batch under the lock, unlocks, then wakes them; everything else
 * moves the waker into a local first and drops it after unlocking, and
 * clones before locking (yp_timer_poll, which finds out under the lock
 * whether it needs a clone, uses yp__waker_register_locked: waker.c).
 *
 * Shutdown joins the thread.  The thread only checks for shutdown with
 * the mutex held, i.e. between batches, so shutdown waits for a batch of
 * wakes in progress to finish.  A waker whose wake blocks forever would
 * therefore block yp_timer_shutdown forever; the binding releases the GIL
 * around yp_timer_shutdown for exactly this reason (a wake waiting for
 * the GIL must be able to get it).
 *
 * Fork.  Nothing is set up until the first timer is armed: no thread, no
 * pthread_atfork handler, no heap.  A process that never used a timer has
 * nothing to clean up.  Once the thread has been started, an atfork
 * handler keeps the mutex consistent across fork() and lets the child
 * start its own thread on its next timer (the parent's thread does not
 * exist in the child).  Wakers that the parent's thread had already moved
 * into a batch at the moment of the fork are leaked in the child.
 */
#include "internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define NOT_QUEUED SIZE_MAX
#define NEVER UINT64_MAX

/* Wakers woken per unlock.  Bounded so that the thread needs no
 * allocation; a longer run of due timers is simply several batches. */
#define BATCH 64

struct yp_timer_s {
    uint64_t deadline;      /* monotonic ns; immutable */
    uint64_t seq;           /* FIFO among equal deadlines; immutable */
    size_t index;           /* heap position, or NOT_QUEUED; lock */
    int refs;               /* handle + heap; lock */
    int fired;              /* atomic; set under the lock by the thread */
    yp_waker_t *waker;      /* owned; lock */
};

static pthread_mutex_t lock = YP__MUTEX_INITIALIZER;
/* The thread's sleep.  Initialised once, on the first start, because it
 * must use CLOCK_MONOTONIC and there is no static initialiser for that. */
static pthread_cond_t cond;
static pthread_once_t once = PTHREAD_ONCE_INIT;
/* yp_timer_shutdown callers waiting for another caller's join. */
static pthread_cond_t join_cond = PTHREAD_COND_INITIALIZER;

/* All of these are guarded by `lock`. */
static yp_timer_t **heap;
static size_t heap_len;
static size_t heap_cap;
static uint64_t next_seq;
static int shut_down;           /* starts refuse with YP_ESHUTDOWN */
static int thread_running;      /* `thread` exists and is not yet stopped */
static pthread_t thread;
/* Bumped whenever a thread is told to stop.  A thread exits when the
 * generation it was started with is stale, which (unlike a boolean stop
 * flag) stays correct when a restart starts a new thread before the old
 * one has noticed. */
static unsigned generation;
static int joining;             /* shutdowns between unlock and join */
/* What the current thread is asleep until: 0 while it is awake (it
 * re-reads the heap before it sleeps again, so nobody needs to signal
 * it), NEVER in an untimed wait, else the deadline of its timed wait.
 * A push signals only when its deadline is earlier.  Without this, every
 * start on an empty heap (a loop of "sleep, cancel") would wake the
 * thread just to go back to sleep: a futex wake and two context switches
 * each.  Written only by the current generation's thread, or by whoever
 * starts a new one. */
static uint64_t sleep_until;
static unsigned long signals;   /* pushes that woke the thread (tests) */

static long live_timers;        /* atomic */

/* --------------------------------------------------------------------
 * Time.
 */
static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* `seconds` is already known to be >= 0 (and not NaN).  Rounded up, so a
 * timer never fires before the requested time has fully passed; huge and
 * infinite values saturate to NEVER. */
static uint64_t
deadline_after(double seconds)
{
    double ns = seconds * 1e9;
    uint64_t now = now_ns();
    if (!(ns < 1.8e19)) {
        return NEVER;
    }
    /* ceil() without libm, so that yp_core needs no -lm. */
    uint64_t d = (uint64_t)ns;
    if ((double)d < ns) {
        d++;
    }
    return d >= NEVER - now ? NEVER : now + d;
}

/* --------------------------------------------------------------------
 * The heap.  All callers hold `lock`.
 */
static int
earlier(const yp_timer_t *a, const yp_timer_t *b)
{
    if (a->deadline != b->deadline) {
        return a->deadline < b->deadline;
    }
    return a->seq < b->seq;
}

static void
heap_set(size_t i, yp_timer_t *t)
{
    heap[i] = t;
    t->index = i;
}

static void
sift_up(size_t i)
{
    yp_timer_t *t = heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!earlier(t, heap[parent])) {
            break;
        }
        heap_set(i, heap[parent]);
        i = parent;
    }
    heap_set(i, t);
}

static void
sift_down(size_t i)
{
    yp_timer_t *t = heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= heap_len) {
            break;
        }
        if (child + 1 < heap_len && earlier(heap[child + 1], heap[child])) {
            child++;
        }
        if (!earlier(heap[child], t)) {
            break;
        }
        heap_set(i, heap[child]);
        i = child;
    }
    heap_set(i, t);
}

static int
heap_push(yp_timer_t *t)
{
    if (heap_len == heap_cap) {
        size_t cap = heap_cap ? heap_cap * 2 : 64;
        yp_timer_t **h = realloc(heap, cap * sizeof(*h));
        if (h == NULL) {
            return YP_ENOMEM;
        }
        heap = h;
        heap_cap = cap;
    }
    heap_set(heap_len++, t);
    sift_up(t->index);
    return 0;
}

static void
heap_remove(yp_timer_t *t)
{
    size_t i = t->index;
    yp_timer_t *last = heap[--heap_len];
    t->index = NOT_QUEUED;
    if (last == t) {
        return;
    }
    heap_set(i, last);
    /* The moved element may belong above or below its new slot. */
    if (i > 0 && earlier(last, heap[(i - 1) / 2])) {
        sift_up(i);
    }
    else {
        sift_down(i);
    }
}

/* --------------------------------------------------------------------
 * Timer objects.
 */
static yp_timer_t *
timer_new(double seconds, int refs, yp_waker_t *waker)
{
    yp_timer_t *t = malloc(sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    t->deadline = deadline_after(seconds);
    t->seq = 0;
    t->index = NOT_QUEUED;
    t->refs = refs;
    t->fired = 0;
    t->waker = waker;
    __atomic_fetch_add(&live_timers, 1, __ATOMIC_RELAXED);
    return t;
}

static void
timer_free(yp_timer_t *t)
{
    __atomic_fetch_sub(&live_timers, 1, __ATOMIC_RELAXED);
    free(t);
}

/* Drop one reference with the lock held.  free() is no waker, so it may
 * run under the lock; the caller must already have moved the waker out. */
static void
timer_unref_locked(yp_timer_t *t)
{
    if (--t->refs == 0) {
        timer_free(t);
    }
}

/* --------------------------------------------------------------------
 * The thread.
 */
static void *
timer_main(void *arg)
{
    unsigned my_generation = (unsigned)(uintptr_t)arg;
    yp_waker_t *batch[BATCH];

    yp__mutex_lock(&lock);
    while (generation == my_generation) {
        uint64_t now = now_ns();
        size_t n = 0;
        while (n < BATCH && heap_len > 0 && heap[0]->deadline <= now) {
            yp_timer_t *t = heap[0];
            heap_remove(t);
            /* Release pairs with yp_timer_poll's lock-free acquire load:
             * a poll that sees `fired` needs nothing else from us, but a
             * READY must never be observed before the deadline. */
            __atomic_store_n(&t->fired, 1, __ATOMIC_RELEASE);
            if (t->waker != NULL) {
                batch[n++] = t->waker;
                t->waker = NULL;
            }
            timer_unref_locked(t);
        }
        if (n > 0) {
            yp__mutex_unlock(&lock);
            for (size_t i = 0; i < n; i++) {
                yp_waker_wake(batch[i]);   /* consumes the reference */
            }
            yp__mutex_lock(&lock);
            /* Time has passed while we woke: look at the heap again
             * before sleeping. */
            continue;
        }
        if (heap_len == 0 || heap[0]->deadline == NEVER) {
            sleep_until = NEVER;
            pthread_cond_wait(&cond, &lock);
        }
        else {
            uint64_t d = heap[0]->deadline;
            struct timespec ts = {
                .tv_sec = (time_t)(d / 1000000000u),
                .tv_nsec = (long)(d % 1000000000u),
            };
            sleep_until = d;
            /* Spurious and early returns are fine: the loop re-reads
             * the clock and the heap. */
            pthread_cond_timedwait(&cond, &lock, &ts);
        }
        /* A thread told to stop must not touch its successor's value
         * (a restart may have started one while we slept). */
        if (generation == my_generation) {
            sleep_until = 0;
        }
    }
    yp__mutex_unlock(&lock);
    return NULL;
}

static void
fork_prepare(void)
{
    yp__mutex_lock(&lock);
}

static void
fork_parent(void)
{
    yp__mutex_unlock(&lock);
}

static void
fork_child(void)
{
    /* Only the forking thread exists here, and it holds `lock` (taken in
     * fork_prepare).  The parent's timer thread may have been waiting on
     * `cond`, so its internal state can name a waiter that is gone:
     * rebuild both condition variables.  The heap is kept; the next start
     * in the child starts a thread that serves it. */
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_cond_init(&join_cond, NULL);
    if (thread_running) {
        thread_running = 0;
        generation++;
    }
    joining = 0;
    sleep_until = 0;
    /* Not an unlock: a checked (error-checking) mutex records its owner's
     * thread id, and this process's only thread has a new one, so the
     * unlock would fail.  A fresh mutex is what the child needs anyway. */
    int err = yp__mutex_init(&lock);
    if (err != 0) {
        yp__mutex_fail("pthread_mutex_init", err);
    }
}

static void
init_once(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* Start the thread if none is running.  Called with the lock held; the
 * new thread simply blocks on it until the caller is done. */
static int
ensure_thread_locked(void)
{
    if (thread_running) {
        return 0;
    }
    pthread_once(&once, init_once);

    /* The thread inherits the creator's signal mask: block everything so
     * that process-directed signals (SIGINT for Python's handler, say)
     * are never delivered to a thread that does not expect them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&thread, NULL, timer_main,
                             (void *)(uintptr_t)generation);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        return YP_EAGAIN;
    }
    thread_running = 1;
    sleep_until = 0;   /* it starts awake and reads the heap first */
    return 0;
}

/* Queue `t` (which holds the heap's reference already).  On failure the
 * caller still owns everything it passed in. */
static int
arm(yp_timer_t *t)
{
    yp__mutex_lock(&lock);
    int err = shut_down ? YP_ESHUTDOWN : ensure_thread_locked();
    if (err == 0) {
        t->seq = next_seq++;
        err = heap_push(t);
    }
    if (err == 0 && t->index == 0 && t->deadline < sleep_until) {
        /* New earliest deadline, and the thread sleeps until a later
         * one (or for ever). */
        signals++;
        pthread_cond_signal(&cond);
    }
    yp__mutex_unlock(&lock);
    return err;
}

/* --------------------------------------------------------------------
 * Public API.
 */
int
yp_timer_start(double seconds, yp_timer_t **out)
{
    /* Written so that NaN fails the test. */
    if (out == NULL || !(seconds >= 0.0)) {
        return YP_EINVAL;
    }
    yp_timer_t *t = timer_new(seconds, 2, NULL);
    if (t == NULL) {
        return YP_ENOMEM;
    }
    int err = arm(t);
    if (err != 0) {
        timer_free(t);
        return err;
    }
    *out = t;
    return 0;
}

int
yp_timer_poll(yp_timer_t *timer, yp_context_t *cx)
{
    /* Lock-free fast paths.  The clock check also makes a zero-second
     * timer ready at once, and keeps polls correct after a shutdown
     * dropped the timer from the heap. */
    if (__atomic_load_n(&timer->fired, __ATOMIC_ACQUIRE)
        || now_ns() >= timer->deadline)
    {
        return YP_READY;
    }

    yp_waker_t *w = yp_context_waker(cx);
    yp__waker_reg_t reg = YP__WAKER_REG_INIT;
    int result;
    yp__mutex_lock(&lock);
    do {
        /* Checked under the lock: the thread sets `fired` and takes the
         * waker in one critical section, so either it sees the waker we
         * register here or we see `fired`.  No wake is lost. */
        if (timer->fired) {
            result = YP_READY;
            break;
        }
        result = YP_PENDING;
        /* A will_wake waker stays (a task polled again costs no clone);
         * otherwise it clones unlocked and we look again. */
    } while (!yp__waker_register_locked(&reg, &timer->waker, w, &lock));
    yp__mutex_unlock(&lock);

    yp__waker_reg_finish(&reg);   /* the clone is unused if it fired */
    return result;
}

void
yp_timer_drop(yp_timer_t *timer)
{
    if (timer == NULL) {
        return;
    }
    yp__mutex_lock(&lock);
    if (timer->index != NOT_QUEUED) {
        /* Cancel: it can no longer fire, and the heap's reference goes.
         * No signal needed; at worst the thread wakes early for it. */
        heap_remove(timer);
        timer->refs--;
    }
    yp_waker_t *waker = timer->waker;
    timer->waker = NULL;
    timer_unref_locked(timer);
    yp__mutex_unlock(&lock);

    yp_waker_drop(waker);
}

int
yp_wake_after(yp_waker_t *waker, double seconds)
{
    if (waker == NULL || !(seconds >= 0.0)) {
        return YP_EINVAL;
    }
    /* Cloned before locking: a vtable's clone may run executor code. */
    yp_waker_t *clone = yp_waker_clone(waker);
    yp_timer_t *t = timer_new(seconds, 1, clone);
    if (t == NULL) {
        yp_waker_drop(clone);
        return YP_ENOMEM;
    }
    int err = arm(t);
    if (err != 0) {
        timer_free(t);
        yp_waker_drop(clone);
    }
    return err;
}

void
yp_timer_shutdown(void)
{
    yp__mutex_lock(&lock);
    shut_down = 1;
    if (thread_running) {
        pthread_t th = thread;
        thread_running = 0;
        generation++;
        joining++;
        pthread_cond_signal(&cond);
        yp__mutex_unlock(&lock);

        if (pthread_equal(th, pthread_self())) {
            /* Called from a wake on the timer thread: it cannot join
             * itself.  It exits when this batch is done. */
            pthread_detach(th);
        }
        else {
            pthread_join(th, NULL);
        }

        yp__mutex_lock(&lock);
        joining--;
        pthread_cond_broadcast(&join_cond);
    }
    else {
        /* A concurrent shutdown owns the join: "stopped" means joined,
         * so wait for it rather than return early. */
        while (joining > 0) {
            pthread_cond_wait(&join_cond, &lock);
        }
    }

    /* Pending timers never fire: empty the heap, dropping their wakers
     * without waking them, BATCH at a time so that no drop runs under the
     * lock and no allocation is needed.  Stop early if a restart raced
     * with us; the new thread then serves what is left. */
    for (;;) {
        yp_waker_t *batch[BATCH];
        size_t n = 0;
        while (shut_down && heap_len > 0 && n < BATCH) {
            yp_timer_t *t = heap[heap_len - 1];   /* O(1) removal */
            heap_remove(t);
            if (t->waker != NULL) {
                batch[n++] = t->waker;
                t->waker = NULL;
            }
            timer_unref_locked(t);
        }
        if (n == 0 && (!shut_down || heap_len == 0)) {
            break;
        }
        yp__mutex_unlock(&lock);
        for (size_t i = 0; i < n; i++) {
            yp_waker_drop(batch[i]);
        }
        yp__mutex_lock(&lock);
    }
    if (shut_down && heap_len == 0) {
        free(heap);
        heap = NULL;
        heap_cap = 0;
    }
    yp__mutex_unlock(&lock);
}

void
yp_timer_restart(void)
{
    /* The thread itself starts lazily with the next timer. */
    yp__mutex_lock(&lock);
    shut_down = 0;
    yp__mutex_unlock(&lock);
}

long
yp__timer_live(void)
{
    return __atomic_load_n(&live_timers, __ATOMIC_RELAXED);
}

void
yp__timer_sleep_state(unsigned long *signals_out, uint64_t *sleep_until_out)
{
    yp__mutex_lock(&lock);
    *signals_out = signals;
    *sleep_until_out = sleep_until;
    yp__mutex_unlock(&lock);
}

size_t
yp__timer_pending(void)
{
    yp__mutex_lock(&lock);
    size_t n = heap_len;
    yp__mutex_unlock(&lock);
    return n;
}
