/* test_waker.c -- yp_waker_*: clone/drop/wake/wake_by_ref/will_wake/noop/
 * register, and a concurrent storm on one waker. */
#include <criterion/criterion.h>

#include "helpers.h"

TestSuite(waker, .timeout = 60);

YP_UTEST(waker, init_gives_one_reference)
{
    counting_waker_t cw;
    cw_init(&cw);
    cr_assert_eq(yp_waker_refcount(&cw.base), 1);
    cr_assert_eq(cw.base.data, &cw);
    cr_assert_eq(cw.base.vtable, &counting_waker_vtable);
    yp_waker_drop(&cw.base);
    cr_assert_eq(cw_destroys(&cw), 1);
    cr_assert_eq(cw_wakes(&cw), 0);
    cw_fini(&cw);
}

YP_UTEST(waker, clone_and_drop_count)
{
    counting_waker_t cw;
    cw_init(&cw);
    yp_waker_t *a = yp_waker_clone(&cw.base);
    cr_assert_eq(a, &cw.base, "clone returns the same object");
    yp_waker_t *b = yp_waker_clone(a);
    cr_assert_eq(yp_waker_refcount(&cw.base), 3);
    yp_waker_drop(a);
    cr_assert_eq(yp_waker_refcount(&cw.base), 2);
    yp_waker_drop(b);
    cr_assert_eq(yp_waker_refcount(&cw.base), 1);
    cr_assert_eq(cw_destroys(&cw), 0, "destroy only on the last drop");
    yp_waker_drop(&cw.base);
    cr_assert_eq(cw_destroys(&cw), 1);
    cw_fini(&cw);
}

YP_UTEST(waker, drop_null_is_ok)
{
    yp_waker_drop(NULL);
}

YP_UTEST(waker, wake_by_ref_keeps_the_reference)
{
    counting_waker_t cw;
    cw_init(&cw);
    yp_waker_wake_by_ref(&cw.base);
    yp_waker_wake_by_ref(&cw.base);
    cr_assert_eq(cw_wakes(&cw), 2);
    cr_assert_eq(yp_waker_refcount(&cw.base), 1);
    cr_assert_eq(cw_destroys(&cw), 0);
    yp_waker_drop(&cw.base);
    cr_assert_eq(cw_destroys(&cw), 1);
    cw_fini(&cw);
}

YP_UTEST(waker, wake_consumes_the_reference)
{
    counting_waker_t cw;
    cw_init(&cw);
    yp_waker_wake(yp_waker_clone(&cw.base));
    cr_assert_eq(cw_wakes(&cw), 1);
    cr_assert_eq(yp_waker_refcount(&cw.base), 1);
    cr_assert_eq(cw_destroys(&cw), 0);
    /* Waking the last reference wakes first, then destroys. */
    yp_waker_wake(&cw.base);
    cr_assert_eq(cw_wakes(&cw), 2);
    cr_assert_eq(cw_destroys(&cw), 1);
    cw_fini(&cw);
}

YP_UTEST(waker, will_wake)
{
    counting_waker_t a, b;
    cw_init(&a);
    cw_init(&b);
    cr_assert(yp_waker_will_wake(&a.base, &a.base));
    cr_assert(yp_waker_will_wake(&a.base, yp_waker_clone(&a.base)));
    yp_waker_drop(&a.base);
    cr_assert_not(yp_waker_will_wake(&a.base, &b.base));
    cr_assert_not(yp_waker_will_wake(NULL, &a.base));
    cr_assert_not(yp_waker_will_wake(&a.base, NULL));
    cr_assert_not(yp_waker_will_wake(NULL, NULL), "NULL never will_wake");
    yp_waker_drop(&a.base);
    yp_waker_drop(&b.base);
    cw_fini(&a);
    cw_fini(&b);
}

YP_UTEST(waker, noop_is_static_and_shared)
{
    yp_waker_t *n = yp_waker_noop();
    cr_assert_not_null(n);
    cr_assert_eq(yp_waker_noop(), n);
    size_t before = yp_waker_refcount(n);
    for (int i = 0; i < 1000; i++) {
        yp_waker_t *c = yp_waker_clone(n);
        cr_assert_eq(c, n);
        yp_waker_wake_by_ref(c);
        yp_waker_wake(yp_waker_clone(c));
        yp_waker_drop(c);
    }
    /* Clones and drops are free, and more drops than clones never
     * destroy it (its vtable has no destroy to call). */
    yp_waker_drop(n);
    yp_waker_drop(n);
    yp_waker_wake(n);
    cr_assert_eq(yp_waker_refcount(n), before);
    cr_assert(yp_waker_will_wake(n, yp_waker_noop()));
}

YP_UTEST(waker, context_waker_is_borrowed)
{
    counting_waker_t cw;
    cw_init(&cw);
    yp_context_t cx = cw_context(&cw.base);
    cr_assert_eq(yp_context_waker(&cx), &cw.base);
    cr_assert_eq(yp_waker_refcount(&cw.base), 1);
    yp_waker_drop(&cw.base);
    cw_fini(&cw);
}

YP_UTEST(waker, register_into_empty_slot_clones)
{
    counting_waker_t cw;
    cw_init(&cw);
    yp_waker_t *slot = NULL;
    yp_waker_register(&slot, &cw.base);
    cr_assert_eq(slot, &cw.base);
    cr_assert_eq(yp_waker_refcount(&cw.base), 2);
    yp_waker_drop(slot);
    yp_waker_drop(&cw.base);
    cr_assert_eq(cw_destroys(&cw), 1);
    cw_fini(&cw);
}

YP_UTEST(waker, register_same_waker_is_free)
{
    counting_waker_t cw;
    cw_init(&cw);
    yp_waker_t *slot = NULL;
    for (int i = 0; i < 10; i++) {
        yp_waker_register(&slot, &cw.base);
    }
    cr_assert_eq(yp_waker_refcount(&cw.base), 2,
                 "re-registering a will_wake waker must not clone");
    yp_waker_drop(slot);
    yp_waker_drop(&cw.base);
    cw_fini(&cw);
}

YP_UTEST(waker, register_other_waker_replaces_and_drops_old)
{
    counting_waker_t a, b;
    cw_init(&a);
    cw_init(&b);
    yp_waker_t *slot = NULL;
    yp_waker_register(&slot, &a.base);
    yp_waker_drop(&a.base);                 /* the slot holds the last ref */
    cr_assert_eq(cw_destroys(&a), 0);
    yp_waker_register(&slot, &b.base);
    cr_assert_eq(slot, &b.base);
    cr_assert_eq(cw_destroys(&a), 1, "the replaced waker is dropped");
    cr_assert_eq(yp_waker_refcount(&b.base), 2);
    cr_assert_eq(cw_wakes(&a), 0, "replacing never wakes");
    yp_waker_drop(slot);
    yp_waker_drop(&b.base);
    cr_assert_eq(cw_destroys(&b), 1);
    cw_fini(&a);
    cw_fini(&b);
}

/* ---------------------------------------------------------------------
 * Storm: STORM_THREADS threads hammer one waker at once.  Each thread
 * owns one reference, handed over by the main thread, and per iteration
 * clones, wakes by reference, wakes by value (consuming a clone), clones
 * and drops some more.  The main thread drops its own reference while
 * they run, so the last drop - and destroy - happens on whichever storm
 * thread finishes last.  Any lost or doubled refcount update shows up
 * as a destroy count other than 1 (or as a use-after-destroy under ASan);
 * every wake must be counted exactly.  (The non-atomic drop of the
 * WAKER_DOUBLE_FREE fault is caught here often but not always on two
 * cores; TSan flags it every time.)
 */
#define STORM_THREADS 8
#define STORM_ITERS yp_test_scaled(100000)

typedef struct {
    yp_waker_t *mine;           /* one owned reference */
    pthread_barrier_t *go;
} storm_arg_t;

static void *
storm_main(void *p)
{
    storm_arg_t *arg = p;
    yp_waker_t *w = arg->mine;
    pthread_barrier_wait(arg->go);
    for (int i = 0; i < STORM_ITERS; i++) {
        yp_waker_t *c = yp_waker_clone(w);
        yp_waker_wake_by_ref(c);
        yp_waker_wake(yp_waker_clone(c));
        /* Extra refcount traffic: widens the window for a lost update. */
        yp_waker_drop(yp_waker_clone(c));
        yp_waker_drop(yp_waker_clone(w));
        yp_waker_drop(c);
    }
    yp_waker_drop(w);
    return NULL;
}

YP_UTEST(waker, storm_clone_wake_drop_from_8_threads)
{
    counting_waker_t cw;
    cw_init(&cw);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, STORM_THREADS + 1);
    pthread_t th[STORM_THREADS];
    storm_arg_t args[STORM_THREADS];
    for (int i = 0; i < STORM_THREADS; i++) {
        args[i].mine = yp_waker_clone(&cw.base);
        args[i].go = &go;
        cr_assert_eq(pthread_create(&th[i], NULL, storm_main, &args[i]), 0);
    }
    cr_assert_eq(yp_waker_refcount(&cw.base), STORM_THREADS + 1);
    pthread_barrier_wait(&go);
    yp_waker_drop(&cw.base);
    for (int i = 0; i < STORM_THREADS; i++) {
        pthread_join(th[i], NULL);
    }
    pthread_barrier_destroy(&go);
    cr_assert_eq(cw_destroys(&cw), 1, "destroy ran %ld times",
                 cw_destroys(&cw));
    cr_assert_eq(cw_wakes(&cw), 2L * STORM_THREADS * STORM_ITERS);
    cw_fini(&cw);
}
