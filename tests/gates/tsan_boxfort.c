/*
 * tsan_boxfort.c -- lets Criterion run under ThreadSanitizer (the tsan
 * preset LD_PRELOADs it into the test binaries).
 *
 * BoxFort, inside libcriterion, maps its shared arena with MAP_FIXED at
 *     0x200000000000 + (rand_r(&seed) & 0x3fffff) * 16 MiB
 * (BoxFort src/arena.c).  ThreadSanitizer refuses fixed mappings outside
 * its application ranges, so nearly every pick fails and the runner
 * aborts with "Could not initialize inheritable arena: Resource
 * temporarily unavailable" (Criterion issue #274, open).
 *
 * TSan's own rand_r interceptor is a weak symbol in the executable; it
 * forwards to the next definition, which is this one.  We keep the
 * sequence pseudo-random but fold it into [0x358000, 0x368000), i.e.
 * arena addresses in [0x558000000000, 0x568000000000), which is TSan's
 * "PIE binaries" application range on x86_64 (LLVM 14 tsan_platform.h).
 * BoxFort still probes each candidate with msync() and skips mapped ones.
 * Nothing else in the test binaries calls rand_r.
 *
 * Built without instrumentation; never linked into anything.
 */
int rand_r(unsigned int *seed);

int
rand_r(unsigned int *seed)
{
    /* The LCG glibc's rand_r uses for its first step. */
    unsigned int next = *seed * 1103515245u + 12345u;
    *seed = next;
    return (int)(0x358000u + (next >> 8) % 0x10000u);
}
