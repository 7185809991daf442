/*
 * worker.c -- the Criterion test: one case instance per worker process.
 *
 * Criterion fork/execs a fresh worker for every parameter, so each case
 * gets its own interpreter (Py_InitializeFromConfig here, never in main).
 * The worker leaves its evidence in files under the results directory
 * (results/collect.py reads them):
 *
 *   <i>.start    written first: the worker got this far (its pid, which
 *                names its memcheck log under Valgrind: leakcheck.c)
 *   <i>.res      the JSON record, written by results.worker (or a constant
 *                one here: a declared skip, a harness that raised)
 *   <i>.crash    the fatal signal's number, written by the signal handler
 *   <i>.timeout  written by the SIGALRM handler when the case overran
 *   <i>.out      the worker's stdout and stderr (faulthandler tracebacks)
 *   <i>.leak     the leak check's verdict after a case (leakcheck.c)
 *
 * The handlers only use async-signal-safe calls (open/write/_exit/raise).
 */

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "conform.h"

/* Set by main() in the runner process, read by the parameter generator
 * (which Criterion also runs in the runner process). */
yc_run_t *yc_current_run;

static char crash_path[600];
static char timeout_path[600];

static void
write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        size_t n = strlen(text);
        while (n > 0) {
            ssize_t w = write(fd, text, n);
            if (w <= 0) {
                break;
            }
            text += w;
            n -= (size_t)w;
        }
        close(fd);
    }
}

static void
on_fatal_signal(int sig)
{
    char buf[16];
    int n = 0, s = sig;
    char digits[8];
    do {
        digits[n++] = (char)('0' + s % 10);
        s /= 10;
    } while (s > 0 && n < 7);
    for (int i = 0; i < n; i++) {
        buf[i] = digits[n - 1 - i];
    }
    buf[n] = '\0';
    write_file(crash_path, buf);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void
on_alarm(int sig)
{
    (void)sig;
    write_file(timeout_path, "timeout");
    _exit(124);
}

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT,
                                    SIGTRAP};

static void
install_handlers(double timeout)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = SA_NODEFER | SA_RESETHAND;
    for (size_t i = 0; i < sizeof fatal_signals / sizeof *fatal_signals; i++) {
        sigaction(fatal_signals[i], &sa, NULL);
    }
    sa.sa_handler = on_alarm;
    sa.sa_flags = 0;
    sigaction(SIGALRM, &sa, NULL);
    /* What CPython does at start-up, which the embedded interpreter skips
     * (install_signal_handlers = 0): a write to a closed pipe or socket is
     * an EPIPE error for Python code, not a silent death.  Without it a
     * late wake writing to a closed loop's self-pipe (pending.loop-closing)
     * killed the worker with no record and no output. */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    if (timeout > 0) {
        struct itimerval it = {{0, 0}, {(time_t)timeout,
            (suseconds_t)((timeout - (double)(time_t)timeout) * 1e6)}};
        setitimer(ITIMER_REAL, &it, NULL);
    }
}

/* What the worker writes when the harness itself failed: a constant, so
 * that no C code formats a record. */
static const char harness_error_record[] =
    "{\"format\": \"yp-conform-record/1\", \"status\": \"ERROR\", "
    "\"message\": \"the harness raised (see the worker output)\", "
    "\"seconds\": 0}\n";
static const char skip_record[] =
    "{\"format\": \"yp-conform-record/1\", \"status\": \"SKIP\", "
    "\"message\": \"\", \"seconds\": 0}\n";

ParameterizedTestParameters(conformance, case)
{
    yc_run_t *run = yc_current_run;
    size_t n = run != NULL ? run->ncases : 0;
    yc_param_t *params = n ? cr_malloc(n * sizeof *params) : NULL;
    for (size_t i = 0; i < n; i++) {
        params[i] = run->proto;
        params[i].index = (int)i;
        params[i].skip = run->skips[i] == '1';
    }
    return cr_make_param_array(yc_param_t, params, n);
}

ParameterizedTest(yc_param_t *p, conformance, case)
{
    char base[512];
    snprintf(base, sizeof base, "%s/%d", p->results_dir, p->index);
    snprintf(crash_path, sizeof crash_path, "%s.crash", base);
    snprintf(timeout_path, sizeof timeout_path, "%s.timeout", base);

    char path[560];
    char pid[32];
    snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    snprintf(path, sizeof path, "%s.start", base);
    write_file(path, pid);
    snprintf(path, sizeof path, "%s.res", base);
    if (p->skip) {
        /* results.collect takes the reason from the listing. */
        write_file(path, skip_record);
        cr_skip_test("declared by the adapter");
    }

    snprintf(path, sizeof path, "%s.out", base);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        fflush(stdout);
        fflush(stderr);
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    install_handlers(p->timeout);
    if (yc_work(p) < 0) {
        snprintf(path, sizeof path, "%s.res", base);
        write_file(path, harness_error_record);
    }
    else {
        /* The interpreter is still up and the harness's frames are gone:
         * memory lost now was lost by the case (LSan / memcheck).
         * results.collect turns a PASS with a .leak into a FAIL. */
        char *leak = yc_leakcheck_case();
        if (leak != NULL) {
            snprintf(path, sizeof path, "%s.leak", base);
            write_file(path, leak);
            free(leak);
            /* Written first: under ci/valgrind this does not return. */
            yc_leakcheck_report();
        }
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    /* The verdict is the record's, read by results.collect; Criterion's
     * own is ignored (always_succeed). */
}
