/*
 * main.c -- yp-conform: run the conformance suite against one
 * implementation (an importable adapter module) and compare with its
 * expectations.  See conform.h for the process model and ../README.md for
 * usage.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/options.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conform.h"

#ifndef YC_CONF_DIR
#define YC_CONF_DIR "."
#endif

extern yc_run_t *yc_current_run;     /* worker.c */

const char *const yc_status_names[YC_NSTATUS] = {
    "PASS", "FAIL", "CRASH", "TIMEOUT", "SKIP", "ERROR",
};

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
"do not, 2 on a harness error (bad adapter, bad expectations file).\n", f);
}

static int
parse_args(yc_run_t *run, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"impl", required_argument, NULL, 'i'},
        {"path", required_argument, NULL, 'p'},
        {"filter", required_argument, NULL, 'f'},
        {"loop", required_argument, NULL, 'l'},
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
    run->loops = "all";
    run->filter = "";
    run->expectations = "";
    run->timeout = 30.0;
    run->conf_dir = getenv("YP_CONFORMANCE_DIR");
    if (run->conf_dir == NULL || run->conf_dir[0] == '\0') {
        run->conf_dir = YC_CONF_DIR;
    }
    while ((ch = getopt_long(argc, argv, "j:vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'i': run->impl = optarg; break;
        case 'p': {
            size_t n = strlen(run->paths);
            if (n + strlen(optarg) + 2 >= sizeof run->paths) {
                fprintf(stderr, "yp-conform: --path list too long\n");
                return -1;
            }
            if (strchr(optarg, ':') != NULL) {
                fprintf(stderr, "yp-conform: --path %s contains ':'\n",
                        optarg);
                return -1;
            }
            snprintf(run->paths + n, sizeof run->paths - n, "%s%s",
                     n ? ":" : "", optarg);
            break;
        }
        case 'f': run->filter = optarg; break;
        case 'l': run->loops = optarg; break;
        case 'j': run->jobs = atoi(optarg); break;
        case 't': run->timeout = atof(optarg); break;
        case 'e': run->expectations = optarg; break;
        case 'J': run->json = optarg; break;
        case 'U': run->junit = optarg; break;
        case 'T': run->tap = optarg; break;
        case 'W': run->write_expectations = optarg; break;
        case 'c': run->conf_dir = optarg; break;
        case 'L': run->list_only = 1; break;
        case 'k': run->keep = 1; break;
        case 'v': run->verbose = 1; break;
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
    if (run->impl == NULL) {
        fprintf(stderr, "yp-conform: --impl MODULE is required\n");
        usage(stderr);
        return -1;
    }
    if (run->timeout <= 0) {
        run->timeout = 30.0;
    }
    return 0;
}

/* ---- enumeration ---------------------------------------------------- */

/* Split a line in place on tabs; returns the field count. */
static int
split_tabs(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        fields[n++] = p;
        char *t = strchr(p, '\t');
        if (t == NULL) {
            break;
        }
        *t = '\0';
        p = t + 1;
    }
    return n;
}

#define COPY(dst, src) snprintf((dst), sizeof(dst), "%s", (src))

static void *
grow(void *arr, size_t n, size_t size)
{
    if ((n & (n - 1)) == 0) {     /* at powers of two */
        arr = realloc(arr, (n ? 2 * n : 1) * size);
        if (arr == NULL) {
            perror("yp-conform");
            exit(2);
        }
    }
    return arr;
}

static int
parse_listing(yc_run_t *run, char *text)
{
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save))
    {
        char *f[12];
        int n = split_tabs(line, f, 12);
        switch (f[0][0]) {
        case 'E':
            fprintf(stderr, "yp-conform: harness error: %s\n",
                    n > 1 ? f[1] : "?");
            return -1;
        case 'W':
            run->warnings = grow(run->warnings, run->nwarnings,
                                 sizeof *run->warnings);
            run->warnings[run->nwarnings++] = strdup(n > 1 ? f[1] : "");
            break;
        case 'S':
            COPY(run->spec_version, n > 1 ? f[1] : "?");
            break;
        case 'I':
            if (n >= 6) {
                COPY(run->impl_name, f[1]);
                COPY(run->impl_file, f[2]);
                COPY(run->contract, f[3]);
                COPY(run->variants, f[4]);
                COPY(run->expectations_used, f[5]);
            }
            break;
        case 'A':
            if (n >= 3) {
                run->areas = grow(run->areas, run->nareas, sizeof *run->areas);
                yc_area_t *a = &run->areas[run->nareas++];
                COPY(a->id, f[1]);
                COPY(a->title, f[2]);
            }
            break;
        case 'C':
            if (n >= 4) {
                run->clauses = grow(run->clauses, run->nclauses,
                                    sizeof *run->clauses);
                yc_clause_t *c = &run->clauses[run->nclauses++];
                COPY(c->id, f[1]);
                COPY(c->area, f[2]);
                COPY(c->level, f[3]);
            }
            break;
        case 'T':
            if (n >= 10) {
                run->cases = grow(run->cases, run->ncases, sizeof *run->cases);
                yc_case_t *c = &run->cases[run->ncases];
                memset(c, 0, sizeof *c);
                c->index = (int)run->ncases++;
                COPY(c->inst, f[1]);
                COPY(c->case_id, f[2]);
                COPY(c->way, f[3]);
                COPY(c->loop, f[4]);
                COPY(c->area, f[5]);
                COPY(c->clauses, f[6]);
                COPY(c->expected, f[7]);
                COPY(c->reason, f[8]);
                COPY(c->skip, f[9]);
            }
            break;
        default:
            break;
        }
    }
    return 0;
}

/* Run ourselves with --yp-enumerate and collect the listing. */
static int
enumerate(yc_run_t *run, const char *argv0)
{
    int fds[2];
    if (pipe(fds) < 0) {
        perror("yp-conform: pipe");
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("yp-conform: fork");
        return -1;
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        char *args[] = {(char *)argv0, "--yp-enumerate", (char *)run->impl,
                        run->paths, (char *)run->filter, (char *)run->loops,
                        (char *)run->expectations, (char *)run->conf_dir,
                        NULL};
        /* readlink, not execv("/proc/self/exe"): under Valgrind the
         * latter is Valgrind's own binary, while readlink is translated
         * to the program being checked. */
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0) {
            self[n] = '\0';
            execv(self, args);
        }
        execv(argv0, args);
        _exit(127);
    }
    close(fds[1]);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 4096 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        ssize_t r = read(fds[0], buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        len += (size_t)r;
    }
    buf[len] = '\0';
    close(fds[0]);
    int wstatus = 0;
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(wstatus)) {
        fprintf(stderr, "yp-conform: harness error: importing adapter %s "
                "crashed the interpreter (signal %d)\n", run->impl,
                WTERMSIG(wstatus));
        free(buf);
        return -1;
    }
    int rc = parse_listing(run, buf);
    free(buf);
    if (rc == 0 && run->impl_name[0] == '\0') {
        fprintf(stderr, "yp-conform: harness error: the enumeration "
                "produced no implementation record\n");
        return -1;
    }
    return rc;
}

/* ---- classification -------------------------------------------------- */

static char *
read_file(const char *path, size_t tail)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long start = (tail && size > (long)tail) ? size - (long)tail : 0;
    fseek(f, start, SEEK_SET);
    char *buf = malloc((size_t)(size - start) + 1);
    size_t n = fread(buf, 1, (size_t)(size - start), f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int
exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static char *
with_output(const char *head, const char *base)
{
    char path[600];
    snprintf(path, sizeof path, "%s.out", base);
    char *out = read_file(path, 1500);
    size_t n = strlen(head) + (out ? strlen(out) : 0) + 32;
    char *msg = malloc(n);
    snprintf(msg, n, "%s%s%s", head, out && *out ? "\n--- worker output (tail) ---\n" : "",
             out && *out ? out : "");
    free(out);
    return msg;
}

static enum yc_status
status_from_name(const char *s)
{
    for (int i = 0; i < YC_NSTATUS; i++) {
        if (strcmp(s, yc_status_names[i]) == 0) {
            return (enum yc_status)i;
        }
    }
    return YC_ERROR;
}

static void
classify(yc_run_t *run)
{
    run->results = calloc(run->ncases ? run->ncases : 1, sizeof *run->results);
    for (size_t i = 0; i < run->ncases; i++) {
        yc_result_t *r = &run->results[i];
        char base[400], path[600];
        snprintf(base, sizeof base, "%s/%zu", run->results_dir, i);
        snprintf(path, sizeof path, "%s.crash", base);
        char *crash = read_file(path, 0);
        snprintf(path, sizeof path, "%s.res", base);
        char *res = read_file(path, 0);
        if (crash != NULL) {
            int sig = atoi(crash);
            char head[128];
            snprintf(head, sizeof head, "worker killed by signal %d (%s)%s",
                     sig, strsignal(sig),
                     res ? " after the case finished" : "");
            r->status = YC_CRASH;
            r->message = with_output(head, base);
        }
        else if (snprintf(path, sizeof path, "%s.timeout", base), exists(path)) {
            char head[128];
            snprintf(head, sizeof head, "no result after %.0f s", run->timeout);
            r->status = YC_TIMEOUT;
            r->message = with_output(head, base);
        }
        else if (res != NULL) {
            char *nl = strchr(res, '\n');
            char *tab = strchr(res, '\t');
            if (nl) {
                *nl = '\0';
            }
            if (tab && (!nl || tab < nl)) {
                *tab = '\0';
                r->seconds = atof(tab + 1);
            }
            r->status = status_from_name(res);
            r->message = strdup(nl ? nl + 1 : "");
        }
        else if (snprintf(path, sizeof path, "%s.start", base), exists(path)) {
            r->status = YC_CRASH;
            r->message = with_output("worker exited without a result", base);
        }
        else {
            r->status = YC_CRASH;
            r->message = strdup("the worker never started this case");
        }
        free(crash);
        free(res);

        const yc_case_t *c = &run->cases[i];
        int expects_pass = yc_expected_has(c, YC_PASS);
        if (r->status == YC_SKIP) {
            r->outcome = YC_OK;
        }
        else if (r->status == YC_ERROR) {
            r->outcome = YC_UNEXPECTED;
        }
        else if (yc_expected_has(c, r->status)) {
            r->outcome = YC_OK;
        }
        else if (r->status == YC_PASS) {
            r->outcome = YC_XPASS;
        }
        else if (expects_pass) {
            r->outcome = YC_UNEXPECTED;
        }
        else {
            r->outcome = YC_REGRESSED;
        }
    }
}

static void
remove_results(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    char path[600];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static double
wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int
main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--yp-enumerate") == 0) {
        return yc_enumerate_main(argc, argv);
    }
    static yc_run_t run;
    if (parse_args(&run, argc, argv) < 0) {
        return 2;
    }
    char conf_abs[1024];
    if (realpath(run.conf_dir, conf_abs) != NULL) {
        run.conf_dir = strdup(conf_abs);
    }
    if (enumerate(&run, argv[0]) < 0) {
        return 2;
    }
    for (size_t i = 0; i < run.nwarnings; i++) {
        fprintf(stderr, "yp-conform: warning: %s\n", run.warnings[i]);
    }
    if (run.list_only) {
        for (size_t i = 0; i < run.ncases; i++) {
            printf("%s\t%s\n", run.cases[i].inst, run.cases[i].clauses);
        }
        return 0;
    }
    if (run.ncases == 0) {
        fprintf(stderr, "yp-conform: no case matches --filter '%s'\n",
                run.filter);
        return 2;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(run.results_dir, sizeof run.results_dir, "%s/yp-conform.XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(run.results_dir) == NULL) {
        perror("yp-conform: mkdtemp");
        return 2;
    }
    printf("yp-conform: %s (%s)\n  adapter contract %s, spec %s, %s\n"
           "  %zu case instances, loops %s, timeout %.0f s, expectations %s\n",
           run.impl_name, run.impl_file, run.contract, run.spec_version,
           run.variants, run.ncases, run.loops, run.timeout,
           run.expectations_used);
    fflush(stdout);

    yc_current_run = &run;
    struct criterion_test_set *tests = criterion_initialize();
    criterion_options.logging_threshold = CRITERION_LOG_LEVEL_QUIET;
    criterion_options.jobs = run.jobs > 0 ? (size_t)run.jobs : 0;
    criterion_options.timeout = run.timeout + 15.0;  /* backstop */
    criterion_options.always_succeed = true;
    double t0 = wall_now();
    criterion_run_all_tests(tests);
    criterion_finalize(tests);
    run.wall_seconds = wall_now() - t0;

    classify(&run);
    yc_print_console(&run);
    int rc = 0;
    if (run.json && yc_write_json(&run, run.json) < 0) {
        rc = 2;
    }
    if (run.junit && yc_write_junit(&run, run.junit) < 0) {
        rc = 2;
    }
    if (run.tap && yc_write_tap(&run, run.tap) < 0) {
        rc = 2;
    }
    if (run.write_expectations
        && yc_write_expectations(&run, run.write_expectations) < 0)
    {
        rc = 2;
    }
    if (run.keep) {
        printf("per-case files kept in %s\n", run.results_dir);
    }
    else {
        remove_results(run.results_dir);
    }
    for (size_t i = 0; i < run.ncases && rc == 0; i++) {
        if (run.results[i].outcome != YC_OK) {
            rc = 1;
        }
    }
    return rc;
}
