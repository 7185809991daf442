/*
 * worker.c -- the Criterion test: one case instance per worker process.
 *
 * Criterion fork/execs a fresh worker for every parameter, so each case
 * gets its own interpreter (Py_InitializeFromConfig here, never in main).
 * The worker records its outcome in files under the results directory:
 *
 *   <i>.start    written first: the worker got this far
 *   <i>.res      "STATUS\tseconds\n" + message, written by a finished case
 *   <i>.crash    the fatal signal's number, written by the signal handler
 *   <i>.timeout  written by the SIGALRM handler when the case overran
 *   <i>.out      the worker's stdout and stderr (faulthandler tracebacks)
 *
 * The handlers only use async-signal-safe calls (open/write/_exit/raise).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
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
    if (timeout > 0) {
        struct itimerval it = {{0, 0}, {(time_t)timeout,
            (suseconds_t)((timeout - (double)(time_t)timeout) * 1e6)}};
        setitimer(ITIMER_REAL, &it, NULL);
    }
}

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Run the case; fill status and a malloc'd message. */
static void
run_in_python(const yc_param_t *p, char *status, size_t status_size,
              char **message)
{
    *message = NULL;
    snprintf(status, status_size, "ERROR");
    if (yc_python_init(p->conf_dir, p->paths) < 0) {
        *message = strdup("cannot initialize the embedded Python");
        return;
    }
    if (p->timeout > 1.0) {
        /* A Python traceback of every thread shortly before the alarm. */
        char code[160];
        snprintf(code, sizeof code,
                 "import faulthandler\n"
                 "faulthandler.dump_traceback_later(%.2f, exit=False)\n",
                 p->timeout - 0.5);
        PyRun_SimpleString(code);
    }
    PyObject *mod = PyImport_ImportModule("cases._harness");
    PyObject *res = NULL;
    if (mod != NULL) {
        res = PyObject_CallMethod(mod, "run_case", "sssss", p->impl, p->paths,
                                  p->c.case_id, p->c.way, p->c.loop);
    }
    if (res != NULL && PyTuple_Check(res) && PyTuple_GET_SIZE(res) == 2) {
        const char *st = PyUnicode_AsUTF8(PyTuple_GET_ITEM(res, 0));
        const char *msg = PyUnicode_AsUTF8(PyTuple_GET_ITEM(res, 1));
        if (st != NULL && msg != NULL) {
            snprintf(status, status_size, "%s", st);
            *message = strdup(msg);
        }
    }
    if (PyErr_Occurred()) {
        PyErr_Print();
        free(*message);
        *message = strdup("the harness raised (see the worker output)");
        snprintf(status, status_size, "ERROR");
    }
    Py_XDECREF(res);
    Py_XDECREF(mod);
    /* A passing case must also have lost no memory (LSan / memcheck). */
    if (strcmp(status, "PASS") == 0) {
        char *leak = yc_leakcheck_case();
        if (leak != NULL) {
            free(*message);
            *message = leak;
            snprintf(status, status_size, "FAIL");
        }
    }
    PyRun_SimpleString("import sys\nsys.stdout.flush()\nsys.stderr.flush()\n"
                       "import faulthandler\n"
                       "faulthandler.cancel_dump_traceback_later()\n");
    /* No Py_FinalizeEx: leftover threads of the implementation must not
     * turn a finished case into a hang; the process ends right after. */
}

ParameterizedTestParameters(conformance, case)
{
    yc_run_t *run = yc_current_run;
    size_t n = 0;
    for (size_t i = 0; run != NULL && i < run->ncases; i++) {
        n++;
    }
    yc_param_t *params = n ? cr_malloc(n * sizeof *params) : NULL;
    for (size_t i = 0; i < n; i++) {
        memset(&params[i], 0, sizeof params[i]);
        params[i].c = run->cases[i];
        snprintf(params[i].impl, sizeof params[i].impl, "%s", run->impl);
        snprintf(params[i].paths, sizeof params[i].paths, "%s", run->paths);
        snprintf(params[i].conf_dir, sizeof params[i].conf_dir, "%s",
                 run->conf_dir);
        snprintf(params[i].results_dir, sizeof params[i].results_dir, "%s",
                 run->results_dir);
        params[i].timeout = run->timeout;
    }
    return cr_make_param_array(yc_param_t, params, n);
}

ParameterizedTest(yc_param_t *p, conformance, case)
{
    char base[512];
    snprintf(base, sizeof base, "%s/%d", p->results_dir, p->c.index);
    snprintf(crash_path, sizeof crash_path, "%s.crash", base);
    snprintf(timeout_path, sizeof timeout_path, "%s.timeout", base);

    char path[560];
    snprintf(path, sizeof path, "%s.start", base);
    write_file(path, p->c.inst);
    if (p->c.skip[0] != '\0') {
        snprintf(path, sizeof path, "%s.res", base);
        char buf[600];
        snprintf(buf, sizeof buf, "SKIP\t0\n%s", p->c.skip);
        write_file(path, buf);
        cr_skip_test("%s", p->c.skip);
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

    char status[16];
    char *message = NULL;
    double t0 = now();
    run_in_python(p, status, sizeof status, &message);
    double dt = now() - t0;

    size_t len = (message ? strlen(message) : 0) + 64;
    char *buf = malloc(len);
    if (buf != NULL) {
        snprintf(buf, len, "%s\t%.3f\n%s", status, dt, message ? message : "");
        snprintf(path, sizeof path, "%s.res", base);
        write_file(path, buf);
        free(buf);
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);

    if (strcmp(status, "PASS") == 0) {
        free(message);
        return;
    }
    if (strcmp(status, "SKIP") == 0) {
        cr_skip_test("%s", message ? message : "");
    }
    cr_assert_fail("%s: %s", status, message ? message : "");
}
