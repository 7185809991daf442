/*
 * conform.h -- yp-conform, the conformance runner (private to runner/).
 *
 * The C runner is the supervisor; results belong to the Python package
 * conformance/results/ (records, expectations, every report format).
 *
 * Process model.  The runner process never initializes Python.  It
 *   1. re-executes itself in "--yp-enumerate" mode: that child embeds
 *      Python, imports the adapter and the cases, reads the expectations
 *      and writes the listing (results.listing) into the results directory,
 *      plus one skip flag per instance (a crashing adapter import is then a
 *      harness error, not a runner crash);
 *   2. hands the instance indices to Criterion as the parameters of one
 *      ParameterizedTest; Criterion fork/execs a worker per instance
 *      (BoxFort), and the worker initializes Python and runs it
 *      (results.worker), which writes one JSON record;
 *   3. re-executes itself in "--yp-report" mode: results.collect turns the
 *      evidence of the signal and alarm handlers (worker.c) into CRASH and
 *      TIMEOUT records, results.report compares with the expectations and
 *      renders every report; its exit status is the run's.
 */
#ifndef YP_CONFORM_H
#define YP_CONFORM_H

#include <stddef.h>

/* Everything a worker needs, copied into Criterion's shared arena
 * (cr_malloc), hence fixed-size; main.c refuses longer paths. */
typedef struct {
    int index;
    int skip;                /* declared by the adapter: no Python needed */
    char paths[2048];        /* ':'-separated --path entries */
    char conf_dir[1024];
    char results_dir[256];
    double timeout;
} yc_param_t;

typedef struct {
    size_t ncases;
    char *skips;             /* '0'/'1' per instance, malloc'd */
    yc_param_t proto;        /* what every parameter shares */
} yc_run_t;

/* embed.c */
int yc_python_init(const char *conf_dir, const char *paths);

/* leakcheck.c: after a case returned to C, NULL if no memory is
 * definitely lost (or no checker runs), else a malloc'd failure message
 * with the head of the checker's report.  Needs the GIL. */
char *yc_leakcheck_case(void);
/* Memcheck's full report of what yc_leakcheck_case counted (under
 * ci/valgrind it ends the worker); nothing under LSan or no checker. */
void yc_leakcheck_report(void);
/* In the runner, around the workers: under memcheck, give each worker its
 * own log, <results_dir>/memcheck.<pid> (results.collect reads it).
 * route returns what to hand to unroute (NULL: nothing routed). */
char *yc_leakcheck_route_reports(const char *results_dir);
void yc_leakcheck_unroute_reports(char *saved);
int yc_enumerate_main(int argc, char **argv);
int yc_report_main(int argc, char **argv);
int yc_work(const yc_param_t *p);

#endif /* YP_CONFORM_H */
