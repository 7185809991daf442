/*
 * leakcheck.c -- the worker's leak check after each case (LSan or
 * memcheck), over tests/gates/leakcheck.h.
 *
 * Why inside the worker: under the ASan and Valgrind gates leak checking
 * at exit is off (CPython's own exit-time allocations would drown it), so
 * a fixture that mallocs and never frees would pass `ci/gate-asan --impl M`
 * and `ci/gate-valgrind --impl M` unless something checks while the
 * process runs.  The worker calls yc_leakcheck_case() once the case has
 * returned to C: with no Python frame of the harness left, what is then
 * unreachable was lost by the implementation or the case.  (Called from
 * Python it would see false leaks: CPython 3.11 keeps frame locals on an
 * mmap'd data stack that LeakSanitizer does not scan.)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../tests/gates/leakcheck.h"
#include "conform.h"

/* How much of the checker's report the failure message carries; all of it
 * also stays in the worker's output. */
#define YC_LEAK_REPORT_MAX 6000

/* Read what the checker wrote to tmp (from the start), at most max bytes;
 * a malloc'd string or NULL. */
static char *
read_report(FILE *tmp, size_t max, size_t *total)
{
    long end = ftell(tmp);
    *total = end > 0 ? (size_t)end : 0;
    size_t n = *total < max ? *total : max;
    char *buf = malloc(n + 1);
    if (buf == NULL) {
        return NULL;
    }
    rewind(tmp);
    n = fread(buf, 1, n, tmp);
    buf[n] = '\0';
    return buf;
}

char *
yc_leakcheck_case(void)
{
    const char *tool = yp_leakcheck_tool();
    if (tool == NULL) {
        return NULL;
    }
    /* The case's garbage first: cycles are not leaks. */
    PyGC_Collect();

    /* LSan prints on fd 2: catch it for the message.  (Valgrind writes to
     * its own copy of the original stderr; its report stays there.) */
    FILE *tmp = tmpfile();
    int saved = -1;
    fflush(stderr);
    if (tmp != NULL && (saved = dup(2)) >= 0) {
        dup2(fileno(tmp), 2);
    }
    unsigned long lost = yp_leakcheck_definite();
    fflush(stderr);
    if (saved >= 0) {
        dup2(saved, 2);
        close(saved);
    }

    size_t total = 0;
    char *report = NULL;
    if (tmp != NULL) {
        fflush(tmp);
        report = read_report(tmp, YC_LEAK_REPORT_MAX, &total);
        if (report != NULL && total > 0) {
            /* Keep the checker's report in the worker's output as well. */
            char chunk[4096];
            size_t k;
            rewind(tmp);
            while ((k = fread(chunk, 1, sizeof chunk, tmp)) > 0) {
                fwrite(chunk, 1, k, stderr);
            }
            fflush(stderr);
        }
        fclose(tmp);
    }
    if (lost == 0) {
        free(report);
        return NULL;
    }

    const char *body = (report != NULL && report[0] != '\0')
        ? report : "(the checker's report is in the worker's output)";
    size_t len = strlen(body) + 160;
    char *msg = malloc(len);
    if (msg != NULL) {
        snprintf(msg, len, "leak: %s found definitely-lost memory after "
                 "the case:\n%s%s", tool, body,
                 total > YC_LEAK_REPORT_MAX
                     ? "\n... (the rest is in the worker's output)" : "");
    }
    free(report);
    return msg;
}
