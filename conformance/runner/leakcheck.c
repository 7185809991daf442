/*
 * leakcheck.c -- the worker's leak check after each case (LSan or
 * memcheck), over tests/gates/leakcheck.h, and where memcheck's reports go.
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
 *
 * Memcheck's evidence.  Under ci/valgrind memcheck writes to its own copy
 * of the stderr the worker was started with (not the worker's <i>.out),
 * and --exit-on-first-error ends the worker at its first error or loss
 * record, often after the case's record was written.  So the verdict is
 * written before memcheck's full leak report is asked for, and the runner
 * gives each worker its own memcheck log, <results>/memcheck.<pid>
 * (VALGRIND_OPTS is read again by every memcheck that --trace-children
 * starts; the runner's own memcheck keeps its command line's stderr),
 * which results.collect attaches to the record.
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

/* LSan: run the check with fd 2 caught in a temporary file, so the
 * failure message carries the report (all of it also stays in the
 * worker's output). */
static char *
lsan_case(const char *tool)
{
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
    size_t len = strlen(body) + 200;
    char *msg = malloc(len);
    if (msg != NULL) {
        snprintf(msg, len, "leak: %s found definitely-lost memory after "
                 "the case:\n%s", tool, body);
        if (total > YC_LEAK_REPORT_MAX) {
            /* Say how much is missing, never cut silently. */
            size_t used = strlen(msg);
            snprintf(msg + used, len - used, "\n[... %zu more bytes of the "
                     "report in the worker's output ...]",
                     total - YC_LEAK_REPORT_MAX);
        }
    }
    free(report);
    return msg;
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
    if (strcmp(tool, "lsan") == 0) {
        return lsan_case(tool);
    }
    /* Memcheck: only count here.  Its full report (yc_leakcheck_report)
     * ends the worker under ci/valgrind, so the verdict is returned, and
     * written, first. */
    unsigned long lost = yp_leakcheck_valgrind_count();
    if (lost == 0) {
        return NULL;
    }
    char *msg;
    if (asprintf(&msg, "leak: %s found %lu bytes definitely lost after the "
                 "case (memcheck's report follows)", tool, lost) < 0) {
        return NULL;
    }
    return msg;
}

void
yc_leakcheck_report(void)
{
    yp_leakcheck_valgrind_report();
}

/* The option memcheck reads for every worker it starts; see the header. */
#define YC_VALGRIND_OPTS "VALGRIND_OPTS"

char *
yc_leakcheck_route_reports(const char *results_dir)
{
    if (yp_leakcheck_tool() == NULL || strcmp(yp_leakcheck_tool(),
                                              "valgrind") != 0
        || strpbrk(results_dir, " \t\n%") != NULL)
    {
        return NULL;
    }
    const char *old = getenv(YC_VALGRIND_OPTS);
    char *saved = strdup(old != NULL ? old : "");
    char *opts;
    if (saved == NULL
        || asprintf(&opts, "%s --log-file=%s/memcheck.%%p", saved,
                    results_dir) < 0)
    {
        free(saved);
        return NULL;
    }
    setenv(YC_VALGRIND_OPTS, opts, 1);
    free(opts);
    return saved;
}

void
yc_leakcheck_unroute_reports(char *saved)
{
    if (saved == NULL) {
        return;
    }
    if (saved[0] == '\0') {
        unsetenv(YC_VALGRIND_OPTS);
    }
    else {
        setenv(YC_VALGRIND_OPTS, saved, 1);
    }
    free(saved);
}
