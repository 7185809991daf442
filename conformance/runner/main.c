/*
 * main.c -- yp-conform: run the conformance suite against one
 * implementation (an importable adapter module) and compare with its
 * expectations.  See conform.h for the process model and ../README.md for
 * usage.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <criterion/options.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conform.h"

#ifndef YC_CONF_DIR
#define YC_CONF_DIR "."
#endif

extern yc_run_t *yc_current_run;     /* worker.c */

/* For the SIGINT/SIGTERM/SIGHUP handler (on_stop_signal). */
static const char *signal_results_dir;     /* set once the dir exists */
static volatile pid_t signal_child;        /* a run_self child, or 0 */

/* The options; what results.runner needs is passed on as key=value. */
typedef struct {
    const char *impl;
    char paths[2048];
    char filter[4096];
    const char *loops;
    const char *levels;
    const char *expectations;
    const char *json, *junit, *tap;
    const char *write_expectations;
    const char *conf_dir;
    long jobs;
    double timeout;
    int verbose;
    int keep;
    int list_only;
} yc_opts_t;

static void
usage(FILE *f)
{
    fputs(
"usage: yp-conform --impl MODULE [options]\n"
"\n"
"Run the yieldpoint conformance suite against an adapter module\n"
"(conformance/ADAPTER.md); one Criterion worker process per case.\n"
"\n"
"  --impl MODULE          adapter module to import (required)\n"
"  --path DIR             prepend DIR to sys.path (repeatable)\n"
"  --filter EXPR          comma-separated terms matched against area, case,\n"
"                         instance and clause IDs (glob or prefix); !TERM\n"
"                         excludes. e.g. 'borrow', 'throw.*,!throw.gc-drops'\n"
"  --loop L               runtimes, comma-separated: asyncio, uvloop, trio,\n"
"                         anyio-asyncio, anyio-trio, or all (default all)\n"
"  --level L              clause levels, comma-separated: MUST, SHOULD, MAY\n"
"                         (default all); a case runs if it checks a clause\n"
"                         of these levels, and only those are reported\n"
"  --strict               MUST and SHOULD (h2spec's --strict): the same as\n"
"                         --level MUST,SHOULD\n"
"  -j, --jobs N           parallel workers (default: number of CPUs)\n"
"  --timeout S            per-case timeout in seconds (default 30)\n"
"  --expectations F       known failures of this implementation (JSON);\n"
"                         default: <cases>/expectations/<implementation>.json\n"
"                         if it exists; 'none' for no expectations\n"
"  --json F  --junit F  --tap F   reports\n"
"  --write-expectations F  write this run's failures as an expectations\n"
"                         file (new ones get a TODO reason to fill in)\n"
"  --cases DIR            the conformance directory (SPEC.md, cases/)\n"
"  --list                 print the selected case instances and exit\n"
"  --keep                 keep the per-case result files\n"
"  -v, --verbose          print every case, not only the notable ones\n"
"  --refleak W:R          run each case W+R times in one interpreter and\n"
"                         fail it if total references or allocated blocks\n"
"                         grow in every one of the last R runs, or open\n"
"                         fds change (needs a debug interpreter)\n"
"\n"
"Exit status: 0 when every result matches the expectations, 1 when some\n"
"do not, 2 on a harness error (bad adapter, bad expectations file, a\n"
"result record that cannot be parsed).  Reports: conformance/results/.\n", f);
}

static int
bad_value(const char *opt, const char *value, const char *want)
{
    fprintf(stderr, "yp-conform: %s %s: %s\n", opt, value, want);
    return -1;
}

static int
parse_args(yc_opts_t *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"impl", required_argument, NULL, 'i'},
        {"path", required_argument, NULL, 'p'},
        {"filter", required_argument, NULL, 'f'},
        {"loop", required_argument, NULL, 'l'},
        {"level", required_argument, NULL, 'V'},
        {"strict", no_argument, NULL, 'S'},
        {"jobs", required_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 't'},
        {"expectations", required_argument, NULL, 'e'},
        {"json", required_argument, NULL, 'J'},
        {"junit", required_argument, NULL, 'U'},
        {"tap", required_argument, NULL, 'T'},
        {"write-expectations", required_argument, NULL, 'W'},
        {"cases", required_argument, NULL, 'c'},
        {"list", no_argument, NULL, 'L'},
        {"keep", no_argument, NULL, 'k'},
        {"verbose", no_argument, NULL, 'v'},
        {"refleak", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    char *end;
    o->loops = "all";
    o->expectations = "";
    o->timeout = 30.0;
    o->conf_dir = getenv("YP_CONFORMANCE_DIR");
    if (o->conf_dir == NULL || o->conf_dir[0] == '\0') {
        o->conf_dir = YC_CONF_DIR;
    }
    while ((ch = getopt_long(argc, argv, "j:vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'i': o->impl = optarg; break;
        case 'p': {
            size_t n = strlen(o->paths);
            if (n + strlen(optarg) + 2 >= sizeof o->paths) {
                fprintf(stderr, "yp-conform: --path list too long\n");
                return -1;
            }
            if (strchr(optarg, ':') != NULL) {
                fprintf(stderr, "yp-conform: --path %s contains ':'\n",
                        optarg);
                return -1;
            }
            snprintf(o->paths + n, sizeof o->paths - n, "%s%s",
                     n ? ":" : "", optarg);
            break;
        }
        case 'f': {
            /* Repeated --filter terms add up, like one comma list. */
            size_t n = strlen(o->filter);
            if (n + strlen(optarg) + 2 >= sizeof o->filter) {
                fprintf(stderr, "yp-conform: --filter too long\n");
                return -1;
            }
            snprintf(o->filter + n, sizeof o->filter - n, "%s%s",
                     n ? "," : "", optarg);
            break;
        }
        case 'l': o->loops = optarg; break;
        case 'V': o->levels = optarg; break;    /* checked by results.listing */
        case 'S': o->levels = "MUST,SHOULD"; break;
        case 'j':
            errno = 0;
            o->jobs = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || o->jobs < 1) {
                return bad_value("--jobs", optarg, "a whole number >= 1");
            }
            break;
        case 't':
            o->timeout = strtod(optarg, &end);
            if (*end || end == optarg || !(o->timeout > 0)
                || o->timeout > 86400)
            {
                return bad_value("--timeout", optarg,
                                 "seconds, > 0 and at most 86400");
            }
            break;
        case 'e': o->expectations = optarg; break;
        case 'J': o->json = optarg; break;
        case 'U': o->junit = optarg; break;
        case 'T': o->tap = optarg; break;
        case 'W': o->write_expectations = optarg; break;
        case 'c': o->conf_dir = optarg; break;
        case 'L': o->list_only = 1; break;
        case 'k': o->keep = 1; break;
        case 'v': o->verbose = 1; break;
        case 'R': {
            /* regrtest -R style, WARMUPS:RUNS; the case workers (which
             * inherit the environment) repeat each case body in one
             * interpreter and compare refcount totals (debug builds). */
            int w, r;
            if (sscanf(optarg, "%d:%d", &w, &r) != 2 || w < 0 || r < 1) {
                fprintf(stderr, "yp-conform: --refleak takes WARMUPS:RUNS, "
                                "e.g. 2:3\n");
                return -1;
            }
            setenv("YP_REFLEAK", optarg, 1);  /* ypkit.refleak reads it */
            break;
        }
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "yp-conform: unexpected argument %s\n", argv[optind]);
        return -1;
    }
    if (o->impl == NULL) {
        fprintf(stderr, "yp-conform: --impl MODULE is required\n");
        usage(stderr);
        return -1;
    }
    return 0;
}

/* ---- the Python children -------------------------------------------- */

/* Run ourselves with args (args[0] unused) and return the exit status;
 * a child killed by a signal gives 128 + the signal. */
static int
run_self(const char *argv0, char **args)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("yp-conform: fork");
        return -1;
    }
    if (pid == 0) {
        /* readlink, not execv("/proc/self/exe"): under Valgrind the
         * latter is Valgrind's own binary, while readlink is translated
         * to the program being checked. */
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        args[0] = (char *)argv0;
        if (n > 0) {
            self[n] = '\0';
            execv(self, args);
        }
        execv(argv0, args);
        _exit(127);
    }
    signal_child = pid;
    int wstatus = 0;
    while (waitpid(pid, &wstatus, 0) < 0) {
        if (errno != EINTR) {
            perror("yp-conform: waitpid");
            signal_child = 0;
            return -1;
        }
    }
    signal_child = 0;
    if (WIFSIGNALED(wstatus)) {
        return 128 + WTERMSIG(wstatus);
    }
    return WEXITSTATUS(wstatus);
}

/* "key=value" in a malloc'd string. */
static char *
kv(const char *key, const char *value)
{
    char *s;
    if (asprintf(&s, "%s=%s", key, value ? value : "") < 0) {
        perror("yp-conform");
        exit(2);
    }
    return s;
}

static char *
read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf != NULL && (r = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += r;
        if (cap - len < 2) {
            char *bigger = realloc(buf, cap *= 2);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
        }
    }
    fclose(f);
    if (buf != NULL) {
        buf[len] = '\0';
    }
    return buf;
}

/* The enumeration child: 0 = run, 2 = harness error, 3 = nothing to run.
 * Fills run->ncases and run->skips. */
static int
enumerate(yc_run_t *run, const yc_opts_t *o, const char *argv0)
{
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%.17g", o->timeout);
    char *args[] = {
        NULL, "--yp-enumerate", run->proto.results_dir,
        (char *)o->conf_dir,
        kv("impl", o->impl), kv("paths", o->paths), kv("filter", o->filter),
        kv("loops", o->loops), kv("levels", o->levels),
        kv("expectations", o->expectations),
        kv("json", o->json), kv("junit", o->junit), kv("tap", o->tap),
        kv("write_expectations", o->write_expectations),
        kv("verbose", o->verbose ? "1" : "0"), kv("timeout", timeout),
        kv("list", o->list_only ? "1" : "0"), NULL,
    };
    int rc = run_self(argv0, args);
    for (char **a = args + 4; *a != NULL; a++) {
        free(*a);
    }
    if (rc > 128) {
        fprintf(stderr, "yp-conform: harness error: importing adapter %s "
                "crashed the interpreter (signal %d)\n", o->impl, rc - 128);
        return 2;
    }
    if (rc != 0) {
        return rc == 3 ? 3 : 2;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/flags", run->proto.results_dir);
    run->skips = read_all(path);
    if (run->skips == NULL || run->skips[0] == '\0') {
        fprintf(stderr, "yp-conform: harness error: the enumeration "
                "listed no case\n");
        return 2;
    }
    run->ncases = strlen(run->skips);
    return 0;
}

/* The results directory and its files go, with async-signal-safe calls
 * only (open, the getdents64 system call, unlinkat), because the SIGINT/
 * SIGTERM handler calls this too.  Workers may still be writing, so the
 * directory is emptied again until rmdir succeeds (a few rounds). */
static void
remove_results(const char *dir)
{
    static char buf[8192];
    for (int round = 0; round < 5; round++) {
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            return;
        }
        long n;
        while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
            for (long off = 0; off < n;) {
                /* struct linux_dirent64: ino, off, reclen, type, name */
                unsigned short reclen;
                memcpy(&reclen, buf + off + 16, sizeof reclen);
                const char *name = buf + off + 19;
                if (name[0] != '.') {
                    unlinkat(fd, name, 0);
                }
                off += reclen;
            }
        }
        close(fd);
        if (rmdir(dir) == 0 || errno == ENOENT) {
            return;
        }
    }
}

/* ---- SIGINT / SIGTERM / SIGHUP: leave no temporary files --------------- */


static void
on_stop_signal(int sig)
{
    int saved = errno;
    if (signal_child > 0) {
        kill(signal_child, SIGKILL);
    }
    if (signal_results_dir != NULL) {
        remove_results(signal_results_dir);
    }
    errno = saved;
    /* Die of the signal, as the caller expects (exit status 128 + sig). */
    signal(sig, SIG_DFL);
    raise(sig);
}

static void
install_stop_handlers(const char *results_dir)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigfillset(&sa.sa_mask);       /* one cleanup at a time */
    sa.sa_handler = on_stop_signal;
    signal_results_dir = results_dir;
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        sigaction(sigs[i], &sa, NULL);
    }
}

static double
wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- progress ---------------------------------------------------------
 *
 * A long run (memcheck: minutes per dozen instances) would say nothing
 * until its report: every YC_PROGRESS_EVERY seconds (YP_CONF_PROGRESS
 * overrides; 0 = after every instance) the runner prints how far it got.
 * Criterion calls the hook in the runner process after each worker. */
#define YC_PROGRESS_EVERY 30.0

static struct {
    size_t total, done;
    double t0, last, every;
    int fd;             /* our stderr: Criterion silences fd 2 meanwhile */
} progress;

static void
progress_start(size_t total)
{
    const char *env = getenv("YP_CONF_PROGRESS");
    char *end;
    double every = env != NULL && *env ? strtod(env, &end) : -1;
    progress.every = every >= 0 ? every : YC_PROGRESS_EVERY;
    progress.total = total;
    progress.done = 0;
    progress.t0 = progress.last = wall_now();
    fflush(stderr);
    progress.fd = dup(2);
}

static void
progress_end(void)
{
    if (progress.fd >= 0) {
        close(progress.fd);
    }
    progress.total = 0;
}

ReportHook(POST_TEST)(struct criterion_test_stats *stats)
{
    (void)stats;
    if (progress.total == 0 || progress.fd < 0) {
        return;
    }
    progress.done++;
    double now = wall_now();
    if (now - progress.last >= progress.every
        || (progress.every == 0 && progress.done <= progress.total))
    {
        progress.last = now;
        dprintf(progress.fd, "yp-conform: %zu/%zu instances done, %.0f s\n",
                progress.done, progress.total, now - progress.t0);
    }
}

int
main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--yp-enumerate") == 0) {
        return yc_enumerate_main(argc, argv);
    }
    if (argc > 1 && strcmp(argv[1], "--yp-report") == 0) {
        return yc_report_main(argc, argv);
    }
    static yc_opts_t opts;
    static yc_run_t run;
    if (parse_args(&opts, argc, argv) < 0) {
        return 2;
    }
    char conf_abs[1024];
    if (realpath(opts.conf_dir, conf_abs) != NULL) {
        opts.conf_dir = strdup(conf_abs);
    }
    if (strlen(opts.conf_dir) >= sizeof run.proto.conf_dir) {
        fprintf(stderr, "yp-conform: --cases path too long\n");
        return 2;
    }
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(run.proto.results_dir, sizeof run.proto.results_dir,
                     "%s/yp-conform.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (n < 0 || (size_t)n >= sizeof run.proto.results_dir) {
        fprintf(stderr, "yp-conform: TMPDIR too long\n");
        return 2;
    }
    if (mkdtemp(run.proto.results_dir) == NULL) {
        perror("yp-conform: mkdtemp");
        return 2;
    }
    if (!opts.keep) {
        install_stop_handlers(run.proto.results_dir);
    }
    snprintf(run.proto.paths, sizeof run.proto.paths, "%s", opts.paths);
    snprintf(run.proto.conf_dir, sizeof run.proto.conf_dir, "%s",
             opts.conf_dir);
    run.proto.timeout = opts.timeout;

    int rc = enumerate(&run, &opts, argv[0]);
    if (rc != 0) {
        remove_results(run.proto.results_dir);
        return rc == 3 ? 0 : 2;
    }

    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1) {
        ncpu = 1;
    }
    if (opts.jobs > 4 * ncpu) {
        /* Workers are processes that time themselves: far more of them
         * than CPUs turns load into spurious TIMEOUTs. */
        fprintf(stderr, "yp-conform: -j %ld capped at %ld (4 x %ld CPUs)\n",
                opts.jobs, 4 * ncpu, ncpu);
        opts.jobs = 4 * ncpu;
    }
    yc_current_run = &run;
    struct criterion_test_set *tests = criterion_initialize();
    if (!opts.keep) {
        /* Again: criterion_initialize installs a SIGTERM handler of its
         * own that _exits, leaving the directory behind. */
        install_stop_handlers(run.proto.results_dir);
    }
    criterion_options.logging_threshold = CRITERION_LOG_LEVEL_QUIET;
    criterion_options.jobs = opts.jobs > 0 ? (size_t)opts.jobs : 0;
    criterion_options.timeout = opts.timeout + 15.0;  /* backstop */
    criterion_options.always_succeed = true;
    double t0 = wall_now();
    progress_start(run.ncases);
    char *routed = yc_leakcheck_route_reports(run.proto.results_dir);
    criterion_run_all_tests(tests);
    criterion_finalize(tests);
    progress_end();
    yc_leakcheck_unroute_reports(routed);
    char wall[32];
    snprintf(wall, sizeof wall, "%.3f", wall_now() - t0);

    char *args[] = {NULL, "--yp-report", run.proto.results_dir,
                    (char *)opts.conf_dir, wall, NULL};
    rc = run_self(argv[0], args);
    if (rc < 0 || rc > 128) {
        fprintf(stderr, "yp-conform: harness error: the report process "
                "failed (status %d)\n", rc);
        rc = 2;
    }
    if (opts.keep) {
        printf("per-case files kept in %s\n", run.proto.results_dir);
    }
    else {
        remove_results(run.proto.results_dir);
    }
    free(run.skips);
    return rc;
}
