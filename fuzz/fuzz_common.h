/*
 * fuzz_common.h -- shared by every fuzz target (C, no Python).
 *
 * yp_fdp_t is a C reading of LLVM's FuzzedDataProvider: integers (opcodes,
 * counts, choices) are taken from the END of the input, payload bytes from
 * the front, so mutating one kind rarely shifts the other.  An exhausted
 * provider returns 0 forever, which every target treats as "stop".
 */
#ifndef YP_FUZZ_COMMON_H
#define YP_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *data;
    size_t size;
} yp_fdp_t;

static inline void
yp_fdp_init(yp_fdp_t *p, const uint8_t *data, size_t size)
{
    p->data = data;
    p->size = size;
}

static inline size_t
yp_fdp_remaining(const yp_fdp_t *p)
{
    return p->size;
}

/* Not instrumented: the comparisons in here are noise to the fuzzer and
 * cost a fifth of the `core` target's time when traced. */
#if defined(__clang__)
#  define YP_FUZZ_NO_COVERAGE \
      __attribute__((noinline, no_sanitize("coverage")))
#else
#  define YP_FUZZ_NO_COVERAGE
#endif

/* An integer in [lo, hi] built from up to 8 bytes at the end. */
static YP_FUZZ_NO_COVERAGE uint64_t
yp_fdp_range(yp_fdp_t *p, uint64_t lo, uint64_t hi)
{
    uint64_t span = hi - lo, r = 0;
    size_t used = 0;
    while (used < 8 && (span >> (used * 8)) > 0 && p->size > 0) {
        r = (r << 8) | p->data[p->size - 1];
        p->size--;
        used++;
    }
    if (span != UINT64_MAX) {
        r %= span + 1;
    }
    return lo + r;
}

static inline uint8_t
yp_fdp_u8(yp_fdp_t *p)
{
    return (uint8_t)yp_fdp_range(p, 0, 255);
}

static inline int
yp_fdp_bool(yp_fdp_t *p)
{
    return (int)(yp_fdp_u8(p) & 1);
}

/* Payload bytes from the front (fewer if the input runs out). */
static inline size_t
yp_fdp_bytes(yp_fdp_t *p, void *out, size_t n)
{
    if (n > p->size) {
        n = p->size;
    }
    memcpy(out, p->data, n);
    p->data += n;
    p->size -= n;
    return n;
}

/* A model/engine disagreement: print and abort (libFuzzer files it). */
#define YP_FUZZ_FAIL(...)                                              \
    do {                                                               \
        fprintf(stderr, "\n==yp-fuzz== FAILURE at %s:%d: ", __FILE__,  \
                __LINE__);                                             \
        fprintf(stderr, __VA_ARGS__);                                  \
        fputc('\n', stderr);                                           \
        abort();                                                       \
    } while (0)

#define YP_FUZZ_CHECK(cond, ...)                                       \
    do {                                                               \
        if (!(cond)) {                                                 \
            YP_FUZZ_FAIL(__VA_ARGS__);                                 \
        }                                                              \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif /* YP_FUZZ_COMMON_H */
