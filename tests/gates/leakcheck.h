/*
 * leakcheck.h -- a leak check to call *inside* a Criterion test body.
 *
 * Criterion ignores a worker's exit status (Criterion issue #137), so an
 * LSan report or a Valgrind leak summary printed when the worker exits
 * leaves the test [PASS].  A check made from the body, failing with
 * cr_assert, is the only one that gates.  It costs nothing when no checker
 * is present:
 *
 *   built with ASan:   __lsan_do_recoverable_leak_check() (reports, and
 *                      can be called again later)
 *   under Valgrind:    VALGRIND_DO_QUICK_LEAK_CHECK + VALGRIND_COUNT_LEAKS,
 *                      then a full report only if something leaked
 *
 * Pointers still in live stack frames count as reachable, so call it from
 * a frame below the one that did the work, after that work's frame has
 * returned (h_fini() does, for the engine tests).  "Possibly lost" blocks
 * are not counted: CPython keeps interior pointers (past the GC header)
 * to most objects.
 */
#ifndef YP_LEAKCHECK_H
#define YP_LEAKCHECK_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define YP_LEAKCHECK_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define YP_LEAKCHECK_LSAN 1
#endif
#endif

#ifdef YP_LEAKCHECK_LSAN
#include <sanitizer/lsan_interface.h>
#endif
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define YP_LEAKCHECK_VALGRIND 1
#endif
#endif

/* Which checker is active: "lsan", "valgrind" or NULL. */
__attribute__((unused)) static const char *
yp_leakcheck_tool(void)
{
#ifdef YP_LEAKCHECK_LSAN
    return "lsan";
#endif
#ifdef YP_LEAKCHECK_VALGRIND
    if (RUNNING_ON_VALGRIND) {
        return "valgrind";
    }
#endif
    return NULL;
}

/* Under Valgrind: bytes definitely lost now, from memcheck's summary-only
 * check (nothing printed); 0 elsewhere.  noinline: the caller's own
 * temporaries are not on the stack this scans as live. */
__attribute__((noinline, unused)) static unsigned long
yp_leakcheck_valgrind_count(void)
{
#ifdef YP_LEAKCHECK_VALGRIND
    if (RUNNING_ON_VALGRIND) {
        unsigned long leaked = 0, dubious = 0, reachable = 0, suppressed = 0;
        VALGRIND_DO_QUICK_LEAK_CHECK;
        VALGRIND_COUNT_LEAKS(leaked, dubious, reachable, suppressed);
        (void)dubious;
        (void)reachable;
        (void)suppressed;
        return leaked;
    }
#endif
    return 0;
}

/* Under Valgrind: memcheck's full report of the definite leaks, with their
 * stacks.  ci/valgrind counts each loss record as an error and exits on
 * the first one, so this call does not return when something leaked:
 * whoever must leave evidence behind writes it before calling this. */
__attribute__((noinline, unused)) static void
yp_leakcheck_valgrind_report(void)
{
#ifdef YP_LEAKCHECK_VALGRIND
    if (RUNNING_ON_VALGRIND) {
        VALGRIND_DO_LEAK_CHECK;
    }
#endif
}

/* Non-zero if definitely-lost memory exists now (the checker has printed
 * the details; under ci/valgrind the process has ended in that case). */
__attribute__((noinline, unused)) static unsigned long
yp_leakcheck_definite(void)
{
#ifdef YP_LEAKCHECK_LSAN
    if (__lsan_do_recoverable_leak_check() != 0) {
        return 1;
    }
#endif
    unsigned long leaked = yp_leakcheck_valgrind_count();
    if (leaked != 0) {
        yp_leakcheck_valgrind_report();
    }
    return leaked;
}

#endif /* YP_LEAKCHECK_H */
