/*
 * slowdown.h -- how much work a stress test does under a slow checker.
 *
 * Memcheck serialises threads (--fair-sched) and runs code 20-50x slower,
 * so the race and scaling tests' full counts made the Valgrind gate's unit
 * runs the longest part of CI (a million timers alone took 55 s).  Under
 * memcheck what matters is that every path runs with its memory checked,
 * not how many interleavings are tried: the plain, ASan and TSan runs keep
 * the full counts.  A tenth is still thousands of rounds per race test.
 */
#ifndef YP_SLOWDOWN_H
#define YP_SLOWDOWN_H

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define YP_SLOWDOWN_VALGRIND 1
#endif
#endif

/* n, or n / 10 when running under Valgrind. */
__attribute__((unused)) static long
yp_test_scaled(long n)
{
#ifdef YP_SLOWDOWN_VALGRIND
    if (RUNNING_ON_VALGRIND) {
        return n / 10;
    }
#endif
    return n;
}

#endif /* YP_SLOWDOWN_H */
