/*
 * embed.c -- embedding CPython: interpreter setup, and the enumeration
 * child ("yp-conform --yp-enumerate ...") that prints the case list.
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

/* Print the pending Python exception as an "E" record on stdout. */
static void
print_error_record(const char *what)
{
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    PyObject *s = exc ? PyObject_Str(exc) : NULL;
    const char *text = s ? PyUnicode_AsUTF8(s) : NULL;
    printf("E\t%s: %s: %s\n", what,
           exc ? Py_TYPE(exc)->tp_name : "error", text ? text : "?");
    Py_XDECREF(s);
    Py_XDECREF(type);
    Py_XDECREF(exc);
    Py_XDECREF(tb);
    PyErr_Clear();
}

/*
 * yp-conform --yp-enumerate IMPL PATHS FILTER LOOPS EXPECTATIONS CONFDIR
 * Prints cases._harness.enumerate_text(...) and exits 0; anything going
 * wrong becomes an "E" record.
 */
int
yc_enumerate_main(int argc, char **argv)
{
    if (argc != 8) {
        printf("E\tinternal: bad --yp-enumerate arguments\n");
        return 0;
    }
    const char *impl = argv[2], *paths = argv[3], *filter = argv[4];
    const char *loops = argv[5], *exp = argv[6], *conf_dir = argv[7];
    if (yc_python_init(conf_dir, paths) < 0) {
        printf("E\tcannot initialize the embedded Python\n");
        return 0;
    }
    PyObject *mod = PyImport_ImportModule("cases._harness");
    if (mod == NULL) {
        print_error_record("cannot import the cases (is --cases right?)");
        return 0;
    }
    PyObject *text = PyObject_CallMethod(mod, "enumerate_text", "sssss",
                                         impl, paths, filter, loops, exp);
    Py_DECREF(mod);
    if (text == NULL) {
        print_error_record("enumeration failed");
        return 0;
    }
    const char *utf8 = PyUnicode_AsUTF8(text);
    if (utf8 == NULL) {
        print_error_record("enumeration failed");
    }
    else {
        fputs(utf8, stdout);
    }
    Py_DECREF(text);
    fflush(stdout);
    /* No Py_FinalizeEx: an adapter's threads must not hold us up. */
    return 0;
}
