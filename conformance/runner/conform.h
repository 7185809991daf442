/*
 * conform.h -- yp-conform, the conformance runner (private to runner/).
 *
 * Process model.  The runner process never initializes Python.  It
 *   1. re-executes itself in "--yp-enumerate" mode: that child embeds
 *      Python, imports the adapter and the cases, reads the expectations
 *      file and prints the case list (a crashing adapter import is then a
 *      harness error, not a runner crash);
 *   2. hands the list to Criterion as the parameters of one
 *      ParameterizedTest; Criterion fork/execs a worker per case (BoxFort),
 *      and the worker initializes Python, runs that one case and writes
 *      its outcome to a file in the results directory;
 *   3. classifies each case from those files (a worker that died leaves a
 *      ".crash" or no result at all, a hung one a ".timeout"), compares with
 *      the expectations and writes the reports.
 */
#ifndef YP_CONFORM_H
#define YP_CONFORM_H

#include <stddef.h>

enum yc_status {
    YC_PASS,
    YC_FAIL,
    YC_CRASH,
    YC_TIMEOUT,
    YC_SKIP,
    YC_ERROR,        /* harness error inside the worker */
    YC_NSTATUS
};

enum yc_outcome {
    YC_OK,           /* matches the expectations */
    YC_UNEXPECTED,   /* failed, expected to pass */
    YC_XPASS,        /* passed, expected to fail */
    YC_REGRESSED,    /* expected FAIL, got CRASH or TIMEOUT (or vice versa) */
};

/* One case instance: case x way x loop.  Fixed-size strings, because the
 * parameter array is copied into Criterion's shared arena (cr_malloc). */
typedef struct {
    int index;
    char inst[192];          /* area::case[way,loop] */
    char case_id[160];
    char way[16];
    char loop[16];
    char area[32];
    char clauses[256];       /* comma-separated */
    char expected[64];       /* '|'-separated kinds; "PASS" if none */
    char reason[512];        /* why it is expected to fail */
    char skip[512];          /* declared by the adapter: skip reason */
} yc_case_t;

typedef struct {
    char id[64];
    char area[32];
    char level[8];
} yc_clause_t;

typedef struct {
    char id[32];
    char title[128];
} yc_area_t;

/* Everything a worker needs, in the shared arena next to the cases. */
typedef struct {
    yc_case_t c;
    char impl[128];
    char paths[2048];        /* ':'-separated --path entries */
    char conf_dir[1024];
    char results_dir[256];
    double timeout;
} yc_param_t;

typedef struct {
    enum yc_status status;
    enum yc_outcome outcome;
    double seconds;
    char *message;           /* malloc'd, may be NULL */
} yc_result_t;

typedef struct {
    /* options */
    const char *impl;
    char paths[2048];
    const char *filter;
    const char *loops;
    const char *expectations;
    const char *json, *junit, *tap;
    const char *write_expectations;
    const char *conf_dir;
    int jobs;
    double timeout;
    int verbose;
    int keep;
    int list_only;
    /* from enumeration */
    char impl_name[128];
    char impl_file[1024];
    char contract[32];
    char variants[256];
    char expectations_used[1024];
    char spec_version[16];
    yc_case_t *cases;
    size_t ncases;
    yc_clause_t *clauses;
    size_t nclauses;
    yc_area_t *areas;
    size_t nareas;
    char **warnings;
    size_t nwarnings;
    /* results */
    char results_dir[256];
    yc_result_t *results;
    double wall_seconds;
} yc_run_t;

extern const char *const yc_status_names[YC_NSTATUS];

/* embed.c */
int yc_enumerate_main(int argc, char **argv);
int yc_python_init(const char *conf_dir, const char *paths);

/* leakcheck.c: after a case returned to C, NULL if no memory is
 * definitely lost (or no checker runs), else a malloc'd failure message
 * with the head of the checker's report.  Needs the GIL. */
char *yc_leakcheck_case(void);

/* report.c */
int yc_expected_has(const yc_case_t *c, enum yc_status s);
int yc_write_json(const yc_run_t *run, const char *path);
int yc_write_junit(const yc_run_t *run, const char *path);
int yc_write_tap(const yc_run_t *run, const char *path);
int yc_write_expectations(const yc_run_t *run, const char *path);
void yc_print_console(const yc_run_t *run);
int yc_case_has_clause(const yc_case_t *c, const char *clause);

#endif /* YP_CONFORM_H */
