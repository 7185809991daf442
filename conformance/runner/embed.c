/*
 * embed.c -- embedding CPython: interpreter setup and the three calls into
 * the results package (conformance/results/runner.py): the enumeration
 * child, one worker's case, and the report child.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <string.h>

#include "conform.h"

#ifndef YC_PYTHON_EXECUTABLE
#define YC_PYTHON_EXECUTABLE "/usr/bin/python3.11"
#endif

/* Build a Python list from a ':'-separated path string (new ref). */
static PyObject *
path_list(const char *paths)
{
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        return NULL;
    }
    const char *p = paths;
    while (p && *p) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > 0) {
            PyObject *s = PyUnicode_DecodeFSDefaultAndSize(p, (Py_ssize_t)n);
            if (s == NULL || PyList_Append(list, s) < 0) {
                Py_XDECREF(s);
                Py_DECREF(list);
                return NULL;
            }
            Py_DECREF(s);
        }
        p = end ? end + 1 : NULL;
    }
    return list;
}

/*
 * Initialize the interpreter for one process.  sys.path gets conf_dir (for
 * the `cases` package) and every --path entry in front.  Returns 0 or -1
 * with a message on stderr.
 */
int
yc_python_init(const char *conf_dir, const char *paths)
{
    PyStatus status;
    PyConfig config;

    PyConfig_InitPythonConfig(&config);
    config.parse_argv = 0;
    config.install_signal_handlers = 0;   /* SIGALRM etc. stay ours */
    config.faulthandler = 1;              /* tracebacks on fatal signals */
    status = PyConfig_SetBytesString(&config, &config.program_name,
                                     YC_PYTHON_EXECUTABLE);
    if (PyStatus_Exception(status)) {
        goto fail;
    }
    status = Py_InitializeFromConfig(&config);
    if (PyStatus_Exception(status)) {
        goto fail;
    }
    PyConfig_Clear(&config);

    PyObject *sys_path = PySys_GetObject("path");       /* borrowed */
    PyObject *extra = path_list(paths);
    PyObject *conf = PyUnicode_DecodeFSDefault(conf_dir);
    if (sys_path == NULL || extra == NULL || conf == NULL
        || PyList_Insert(sys_path, 0, conf) < 0)
    {
        Py_XDECREF(extra);
        Py_XDECREF(conf);
        PyErr_Print();
        return -1;
    }
    Py_DECREF(conf);
    for (Py_ssize_t i = PyList_GET_SIZE(extra) - 1; i >= 0; i--) {
        if (PyList_Insert(sys_path, 0, PyList_GET_ITEM(extra, i)) < 0) {
            Py_DECREF(extra);
            PyErr_Print();
            return -1;
        }
    }
    Py_DECREF(extra);
    return 0;

fail:
    PyConfig_Clear(&config);
    fprintf(stderr, "yp-conform: cannot initialize Python: %s\n",
            status.err_msg ? status.err_msg : "(unknown)");
    return -1;
}

/*
 * Call results.runner.<func>(*args) and return its int result (the exit
 * status); a Python exception is printed and gives 2, a harness error.
 * Steals args.
 */
static int
call_results(const char *func, PyObject *args)
{
    int rc = 2;
    long v;
    PyObject *mod = NULL, *fn = NULL, *res = NULL;
    if (args == NULL) {
        goto error;
    }
    mod = PyImport_ImportModule("results.runner");
    if (mod == NULL) {
        goto error;
    }
    fn = PyObject_GetAttrString(mod, func);
    if (fn == NULL) {
        goto error;
    }
    res = PyObject_CallObject(fn, args);
    if (res == NULL) {
        goto error;
    }
    v = PyLong_AsLong(res);
    if (v == -1 && PyErr_Occurred()) {
        goto error;
    }
    rc = (int)v;
error:
    if (PyErr_Occurred()) {
        fprintf(stderr, "yp-conform: harness error in results.runner.%s:\n",
                func);
        PyErr_Print();
    }
    Py_XDECREF(res);
    Py_XDECREF(fn);
    Py_XDECREF(mod);
    Py_XDECREF(args);
    fflush(stdout);
    fflush(stderr);
    return rc;
}

/* The "paths=" value among key=value arguments ("" if none). */
static const char *
paths_option(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "paths=", 6) == 0) {
            return argv[i] + 6;
        }
    }
    return "";
}

/*
 * yp-conform --yp-enumerate DIR CONF_DIR key=value...
 * Exit status: 0 run, 2 harness error, 3 nothing to run (--list printed).
 * No Py_FinalizeEx here or below: an adapter's threads must not hold the
 * runner up, and the process ends right after.
 */
int
yc_enumerate_main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "yp-conform: internal: bad --yp-enumerate call\n");
        return 2;
    }
    const char *dir = argv[2], *conf_dir = argv[3];
    if (yc_python_init(conf_dir, paths_option(argc - 4, argv + 4)) < 0) {
        return 2;
    }
    PyObject *pairs = PyList_New(0);
    for (int i = 4; pairs != NULL && i < argc; i++) {
        PyObject *s = PyUnicode_DecodeFSDefault(argv[i]);
        if (s == NULL || PyList_Append(pairs, s) < 0) {
            Py_XDECREF(s);
            Py_CLEAR(pairs);
            break;
        }
        Py_DECREF(s);
    }
    PyObject *args = pairs ? Py_BuildValue("(ssN)", dir, conf_dir, pairs)
                           : NULL;
    return call_results("enumerate", args);
}

/* yp-conform --yp-report DIR CONF_DIR WALL_SECONDS: the run's exit status. */
int
yc_report_main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "yp-conform: internal: bad --yp-report call\n");
        return 2;
    }
    if (yc_python_init(argv[3], "") < 0) {
        return 2;
    }
    return call_results("report", Py_BuildValue("(ss)", argv[2], argv[4]));
}

/* One worker: run instance p->index; results.worker writes its record.
 * Returns 0, or -1 when the harness itself failed (no record written). */
int
yc_work(const yc_param_t *p)
{
    if (yc_python_init(p->conf_dir, p->paths) < 0) {
        return -1;
    }
    return call_results("work", Py_BuildValue("(si)", p->results_dir,
                                              p->index)) == 0 ? 0 : -1;
}
