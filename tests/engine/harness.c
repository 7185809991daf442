/* harness.c -- see harness.h. */
#include "harness.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../gates/leakcheck.h"

static PyObject *module;
yp_waker_t *t_kept_waker;

/* Refleak mode: YP_REFLEAK=warmups:runs (see h_fini in harness.h). */
static int refleak_warmups, refleak_runs;
static int repeating;               /* inside a repeated body */
static const char *no_repeat_why;   /* set by h_no_repeat() */
static void (*test_body)(void);     /* the running test's body */

/* Criterion's trampoline calls criterion_internal_test_main(body) between
 * the .init and .fini fixtures; the body itself is reachable from nowhere
 * else.  This definition, in the test executable, takes precedence over
 * libcriterion's, records the body for refleak mode and forwards. */
void
criterion_internal_test_main(void (*fn)(void))
{
    static void (*real)(void (*)(void));
    if (real == NULL) {
        *(void **)&real = dlsym(RTLD_NEXT, "criterion_internal_test_main");
        if (real == NULL) {
            fprintf(stderr, "harness: libcriterion's test main not found\n");
            abort();
        }
    }
    test_body = fn;
    real(fn);
}

static void
parse_refleak(void)
{
    const char *spec = getenv("YP_REFLEAK");
    refleak_warmups = refleak_runs = 0;
    if (spec == NULL || *spec == '\0') {
        return;
    }
    cr_assert(sscanf(spec, "%d:%d", &refleak_warmups, &refleak_runs) == 2
              && refleak_warmups >= 0 && refleak_runs >= 1,
              "YP_REFLEAK=%s: expected warmups:runs, e.g. 2:3", spec);
}

/* The isolated config ignores PYTHONMALLOC, so the harness reads it:
 *  - malloc (the default here): every object is its own malloc block, so
 *    ASan and Valgrind see each one;
 *  - malloc_debug (the valgrind preset): the same plus CPython's debug
 *    hooks, which fill fresh blocks with 0xCD.  Without that fill, 3.11's
 *    int.from_bytes() of zero (at every .pyc import) reads a digit it never
 *    wrote and taints the small int 0 for memcheck, and every later use of
 *    it is an "uninitialised value" error in CPython;
 *  - refleak mode: pymalloc with debug hooks, so getallocatedblocks()
 *    counts. */
static PyMemAllocatorName
choose_allocator(void)
{
    static const struct {
        const char *name;
        PyMemAllocatorName allocator;
    } names[] = {
        {"malloc", PYMEM_ALLOCATOR_MALLOC},
        {"malloc_debug", PYMEM_ALLOCATOR_MALLOC_DEBUG},
        {"pymalloc", PYMEM_ALLOCATOR_PYMALLOC},
        {"pymalloc_debug", PYMEM_ALLOCATOR_PYMALLOC_DEBUG},
        {"debug", PYMEM_ALLOCATOR_DEBUG},
    };
    const char *env = getenv("PYTHONMALLOC");
    if (refleak_runs) {
        return PYMEM_ALLOCATOR_PYMALLOC_DEBUG;
    }
    for (size_t i = 0; env != NULL && i < sizeof(names) / sizeof(*names);
         i++) {
        if (strcmp(env, names[i].name) == 0) {
            return names[i].allocator;
        }
    }
    return PYMEM_ALLOCATOR_MALLOC;
}

void
h_init(void)
{
    parse_refleak();
    PyPreConfig pre;
    PyPreConfig_InitIsolatedConfig(&pre);
    pre.allocator = choose_allocator();
    PyStatus s = Py_PreInitialize(&pre);
    cr_assert(!PyStatus_Exception(s), "Py_PreInitialize failed");

    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.install_signal_handlers = 0;
    s = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    cr_assert(!PyStatus_Exception(s), "Py_InitializeFromConfig failed");

    module = PyModule_New("yp_test");
    cr_assert_not_null(module);
    cr_assert_eq(yp_init(module), 0, "yp_init failed");
    h_set("yp_test", module);
    h_run("import asyncio, gc, sys, threading, time");
}

PyObject *
h_module(void)
{
    return module;
}

static void
fail_with_exception(const char *what)
{
    if (PyErr_Occurred()) {
        PyErr_Print();
    }
    cr_assert_fail("%s raised (traceback above)", what);
}

void
h_run(const char *src)
{
    PyObject *main = PyImport_AddModule("__main__");
    PyObject *d = PyModule_GetDict(main);
    PyObject *r = PyRun_String(src, Py_file_input, d, d);
    if (r == NULL) {
        fail_with_exception(src);
    }
    Py_DECREF(r);
}

PyObject *
h_eval(const char *expr)
{
    PyObject *main = PyImport_AddModule("__main__");
    PyObject *d = PyModule_GetDict(main);
    PyObject *r = PyRun_String(expr, Py_eval_input, d, d);
    if (r == NULL) {
        fail_with_exception(expr);
    }
    return r;
}

void
h_set(const char *name, PyObject *obj)
{
    PyObject *main = PyImport_AddModule("__main__");
    cr_assert_eq(PyObject_SetAttrString(main, name, obj), 0);
}

void
h_no_repeat(const char *why)
{
    no_repeat_why = why;
}

/* What one run of a body must leave behind: nothing. */
static void
settle(void)
{
    h_run("for _n in ('coro', 'c', 't', 'r'):\n"
          "    globals().pop(_n, None)\n"
          "gc.collect()");
    cr_assert_null(PyErr_Occurred(), "exception left pending");
    cr_assert_eq(yp_live_coroutines(), 0, "%zd coroutines alive",
                 yp_live_coroutines());
    cr_assert_eq(yp_live_futures(), 0, "%zd futures alive",
                 yp_live_futures());
    yp_waker_drop(t_kept_waker);
    t_kept_waker = NULL;
}

/* Exported by every libpython (sys.getallocatedblocks()), declared only in
 * the internal headers. */
PyAPI_FUNC(Py_ssize_t) _Py_GetAllocatedBlocks(void);

typedef struct {
    Py_ssize_t refs;
    Py_ssize_t blocks;
    long fds;
} snapshot_t;

static long
count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    long n = 0;
    cr_assert_not_null(d);
    while (readdir(d) != NULL) {
        n++;
    }
    closedir(d);
    return n;
}

/* The refleak check's reference is the contract kit's ypkit.refleak
 * (conformance/ypkit/refleak.py), which pytest and the conformance cases
 * use.  The Criterion body is C, so this harness keeps its own loop and
 * verdict, written to match the kit's: the kit itself clears the caches
 * (ypkit.refleak.clear_caches: the type cache, re's cache, the ABC
 * caches), and the verdict below is the kit's `verdict` rule. */
static void
import_kit(void)
{
    /* The kit is <repo>/conformance/ypkit; this file is
     * <repo>/tests/engine/harness.c (CMake compiles it by its absolute
     * path, so __FILE__ locates the tree). */
    PyObject *file = PyUnicode_DecodeFSDefault(__FILE__);
    cr_assert_not_null(file);
    h_set("_yp_harness_file", file);
    Py_DECREF(file);
    h_run("import os\n"
          "_yp_kit_dir = os.path.join(os.path.dirname(os.path.dirname(\n"
          "    os.path.dirname(os.path.abspath(_yp_harness_file)))),\n"
          "    'conformance')\n"
          "del _yp_harness_file\n"
          "sys.path.insert(0, _yp_kit_dir)\n"
          "import ypkit.refleak as _yp_refleak\n"
          "sys.path.remove(_yp_kit_dir)\n"
          "del _yp_kit_dir");
}

static void
snapshot(snapshot_t *s)
{
    /* As regrtest's dash_R: drop caches that legitimately grow, collect. */
    h_run("_yp_refleak.clear_caches()\n"
          "gc.collect()");
#ifdef Py_REF_DEBUG
    s->refs = _Py_GetRefTotal();
#else
    s->refs = 0;
#endif
    s->blocks = _Py_GetAllocatedBlocks();
    s->fds = count_fds();
}

/* regrtest's verdict (Lib/test/libregrtest/refleak.py), as
 * ypkit.refleak.verdict: references or blocks leak if *every* measured run
 * grew them (which ignores one-off cache fills such as [3, 0, 0]); fds
 * leak if any run changed them. */
static int
all_positive(const Py_ssize_t *d, int n)
{
    for (int i = 0; i < n; i++) {
        if (d[i] < 1) {
            return 0;
        }
    }
    return 1;
}

static void
refleak_hunt(void)
{
    int total = refleak_warmups + refleak_runs;
    Py_ssize_t drefs[64], dblocks[64];
    long dfds[64];
    snapshot_t before, after;

#ifndef Py_REF_DEBUG
    cr_assert_fail("YP_REFLEAK needs the debug interpreter (pydebug preset): "
                   "this build has no _Py_GetRefTotal()");
#endif
    if (no_repeat_why != NULL) {
        cr_log_warn("refleak: not repeated: %s", no_repeat_why);
        return;
    }
    cr_assert(criterion_current_test->data->param_ == NULL,
              "refleak: parameterized tests cannot be repeated");
    cr_assert_not_null(test_body);
    cr_assert(refleak_runs <= 64, "YP_REFLEAK: at most 64 runs");

    import_kit();
    repeating = 1;
    snapshot(&before);
    for (int i = 0; i < total; i++) {
        test_body();            /* ends in h_fini(): settle() only */
        snapshot(&after);
        if (i >= refleak_warmups) {
            int k = i - refleak_warmups;
            drefs[k] = after.refs - before.refs;
            dblocks[k] = after.blocks - before.blocks;
            dfds[k] = after.fds - before.fds;
        }
        before = after;
    }
    repeating = 0;

    char refs[256] = "", blocks[256] = "", fds[256] = "";
    int fd_leak = 0;
    for (int k = 0; k < refleak_runs; k++) {
        const char *sep = k ? ", " : "";
        snprintf(refs + strlen(refs), sizeof(refs) - strlen(refs), "%s%zd",
                 sep, drefs[k]);
        snprintf(blocks + strlen(blocks), sizeof(blocks) - strlen(blocks),
                 "%s%zd", sep, dblocks[k]);
        snprintf(fds + strlen(fds), sizeof(fds) - strlen(fds), "%s%ld",
                 sep, dfds[k]);
        fd_leak |= dfds[k] != 0;
    }
    cr_assert(!all_positive(drefs, refleak_runs),
              "refleak: %s/%s leaked references [%s] over %d runs",
              criterion_current_test->category, criterion_current_test->name,
              refs, refleak_runs);
    cr_assert(!all_positive(dblocks, refleak_runs),
              "refleak: %s/%s leaked memory blocks [%s] over %d runs",
              criterion_current_test->category, criterion_current_test->name,
              blocks, refleak_runs);
    cr_assert(!fd_leak, "refleak: %s/%s leaked file descriptors [%s]",
              criterion_current_test->category, criterion_current_test->name,
              fds);
}

void
h_fini(void)
{
    settle();
    if (repeating) {
        return;                 /* a repetition; refleak_hunt() measures */
    }
    if (refleak_runs > 0) {
        refleak_hunt();
    }
    const char *tool = yp_leakcheck_tool();
    if (tool != NULL) {
        cr_assert_eq(yp_leakcheck_definite(), 0,
                     "%s: memory definitely leaked (report above)", tool);
    }
    module = NULL;   /* owned by __main__ now */
    cr_assert_eq(Py_FinalizeEx(), 0, "Py_FinalizeEx failed");
}

/* ---------------------------------------------------------------------
 * The test future.
 */
typedef struct {
    yp_future_t base;
    PyObject *value;
    t_counts_t *counts;
    int n;
    int at;
    t_step_t steps[];
} t_future_t;

static yp_poll_t
t_poll(yp_future_t *f, yp_context_t *cx, PyObject **result)
{
    t_future_t *self = (t_future_t *)f;
    t_step_t step = self->steps[self->at < self->n ? self->at : self->n - 1];
    self->at++;
    self->counts->polls++;
    switch (step) {
    case T_READY:
        *result = Py_NewRef(self->value);
        return YP_READY;
    case T_ERROR:
        PyErr_SetObject((PyObject *)Py_TYPE(self->value), self->value);
        return YP_ERROR;
    case T_WAKE:
        yp_waker_wake_by_ref(yp_context_waker(cx));
        return YP_PENDING;
    case T_KEEP_WAKER:
        yp_waker_register(&t_kept_waker, yp_context_waker(cx));
        return YP_PENDING;
    case T_PENDING:
    default:
        return YP_PENDING;
    }
}

static void
t_drop(yp_future_t *f)
{
    t_future_t *self = (t_future_t *)f;
    self->counts->drops++;
    Py_XDECREF(self->value);
    free(self);
}

static int
t_traverse(yp_future_t *f, visitproc visit, void *arg)
{
    Py_VISIT(((t_future_t *)f)->value);
    return 0;
}

static const yp_future_vtable_t t_vtable = {
    .name = "t_future",
    .poll = t_poll,
    .drop = t_drop,
    .traverse = t_traverse,
};

yp_future_t *
t_future(const t_step_t *steps, int n, PyObject *value, t_counts_t *counts)
{
    t_future_t *self = malloc(sizeof(*self) + (size_t)n * sizeof(t_step_t));
    cr_assert_not_null(self);
    self->base.vtable = &t_vtable;
    self->value = Py_XNewRef(value ? value : Py_None);
    self->counts = counts;
    self->n = n;
    self->at = 0;
    for (int i = 0; i < n; i++) {
        self->steps[i] = steps[i];
    }
    return &self->base;
}
