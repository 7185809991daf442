/*
 * py_target.c -- the C side of the Python-level fuzz targets (`coroutine`,
 * `scripts`).  Compiled once per target with
 *   -DYP_FUZZ_DRIVER="coroutine_driver"   (a module under fuzz/py/)
 *   -DYP_FUZZ_PY_DIR="/abs/path/fuzz/py"  (baked-in fallback location)
 *   -DYP_FUZZ_KIT_DIR="/abs/path/conformance"  (where `ypkit` lives)
 *
 * LLVMFuzzerInitialize embeds CPython once per process, the way CPython's
 * own fuzzers do (Modules/_xxtestfuzz): PyPreConfig with the malloc
 * allocator (so ASan/LSan see every Python allocation and the exit-time
 * leak report stays clean), an isolated PyConfig, no signal handlers.
 *
 * The `yieldpoint` module is linked into this binary and registered as a
 * built-in, so the engine is instrumented like the target itself.  Set
 * YP_FUZZ_MODULE_DIR to import `yieldpoint` from a directory instead (a
 * fault-injected build, or another implementation's adapter module).
 * The driver directory is $YP_FUZZ_PY_DIR, else <dir of the binary>/py,
 * else the baked-in path.
 *
 * Each input calls driver.run(bytes).  Any exception escaping it (the
 * drivers raise FuzzFailure when the engine breaks a rule) is printed and
 * the process aborts, so libFuzzer files the input as a crash.
 */
#include "fuzz_common.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <limits.h>
#include <unistd.h>

#ifndef YP_FUZZ_DRIVER
#  error "define YP_FUZZ_DRIVER"
#endif
#ifndef YP_FUZZ_PY_DIR
#  define YP_FUZZ_PY_DIR ""
#endif

#define YP_FUZZ_MAX_LEN 4096

#ifndef YP_FUZZ_NO_BUILTIN_MODULE
PyMODINIT_FUNC PyInit_yieldpoint(void);
#endif

static PyObject *run_fn;
static PyThreadState *saved;

static void
die_with_python_error(const char *what)
{
    fprintf(stderr, "\n==yp-fuzz== %s: Python exception:\n", what);
    if (PyErr_Occurred()) {
        PyErr_Print();
    }
    fflush(stderr);
    abort();
}

static int
dir_exists(const char *path)
{
    char probe[PATH_MAX];
    snprintf(probe, sizeof(probe), "%s/fuzz_support.py", path);
    return access(probe, R_OK) == 0;
}

static void
find_driver_dir(char *out, size_t n)
{
    const char *env = getenv("YP_FUZZ_PY_DIR");
    if (env != NULL && *env) {
        snprintf(out, n, "%s", env);
        return;
    }
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            snprintf(out, n, "%s/py", exe);
            if (dir_exists(out)) {
                return;
            }
        }
    }
    snprintf(out, n, "%s", YP_FUZZ_PY_DIR);
}

static void
path_insert(PyObject *sys_path, const char *dir)
{
    PyObject *s = PyUnicode_DecodeFSDefault(dir);
    if (s == NULL || PyList_Insert(sys_path, 0, s) < 0) {
        die_with_python_error("sys.path");
    }
    Py_DECREF(s);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    PyStatus status;

    PyPreConfig pre;
    PyPreConfig_InitIsolatedConfig(&pre);
    pre.allocator = PYMEM_ALLOCATOR_MALLOC;
    status = Py_PreInitialize(&pre);
    if (PyStatus_Exception(status)) {
        Py_ExitStatusException(status);
    }

    const char *module_dir = getenv("YP_FUZZ_MODULE_DIR");
#ifndef YP_FUZZ_NO_BUILTIN_MODULE
    if (module_dir == NULL || !*module_dir) {
        if (PyImport_AppendInittab("yieldpoint", PyInit_yieldpoint) < 0) {
            fprintf(stderr, "PyImport_AppendInittab failed\n");
            abort();
        }
    }
#endif

    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.install_signal_handlers = 0;
    config.write_bytecode = 0;
    config.site_import = 0;
    status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        Py_ExitStatusException(status);
    }

    PyObject *sys_path = PySys_GetObject("path");   /* borrowed */
    if (sys_path == NULL) {
        die_with_python_error("sys.path");
    }
    /* The contract kit (conformance/ypkit: messages, step outcomes,
     * driving by hand) behind the driver directory, so that a copy of the
     * kit beside the drivers (build.sh's $OUT/py, a campaign's snapshot)
     * is the one imported. */
    path_insert(sys_path, YP_FUZZ_KIT_DIR);
    char dir[PATH_MAX];
    find_driver_dir(dir, sizeof(dir));
    path_insert(sys_path, dir);
    if (module_dir != NULL && *module_dir) {
        path_insert(sys_path, module_dir);
    }

    PyObject *mod = PyImport_ImportModule(YP_FUZZ_DRIVER);
    if (mod == NULL) {
        die_with_python_error("importing the driver " YP_FUZZ_DRIVER);
    }
    PyObject *setup = PyObject_GetAttrString(mod, "setup");
    if (setup == NULL) {
        die_with_python_error("driver.setup");
    }
    PyObject *r = PyObject_CallNoArgs(setup);
    Py_DECREF(setup);
    if (r == NULL) {
        die_with_python_error("driver.setup()");
    }
    Py_DECREF(r);
    run_fn = PyObject_GetAttrString(mod, "run");
    Py_DECREF(mod);
    if (run_fn == NULL) {
        die_with_python_error("driver.run");
    }
    /* Let foreign threads (timer wakes) take the GIL between inputs. */
    saved = PyEval_SaveThread();
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > YP_FUZZ_MAX_LEN) {
        return -1;   /* keep inputs small: slow units help nobody */
    }
    PyEval_RestoreThread(saved);
    PyObject *bytes = PyBytes_FromStringAndSize((const char *)data,
                                                (Py_ssize_t)size);
    if (bytes == NULL) {
        die_with_python_error("input bytes");
    }
    PyObject *r = PyObject_CallOneArg(run_fn, bytes);
    Py_DECREF(bytes);
    if (r == NULL) {
        die_with_python_error(YP_FUZZ_DRIVER ".run(input)");
    }
    Py_DECREF(r);
    if (PyErr_Occurred()) {
        die_with_python_error("exception left set after run");
    }
    saved = PyEval_SaveThread();
    return 0;
}
