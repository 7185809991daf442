/*
 * report.c -- console summary, JSON, JUnit XML and TAP reports.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conform.h"

static const char *const outcome_names[] = {
    "ok", "unexpected", "unexpected-pass", "regressed",
};

int
yc_expected_has(const yc_case_t *c, enum yc_status s)
{
    const char *name = yc_status_names[s];
    size_t n = strlen(name);
    const char *p = c->expected;
    while (*p) {
        const char *end = strchr(p, '|');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0) {
            return 1;
        }
        if (end == NULL) {
            break;
        }
        p = end + 1;
    }
    return 0;
}

int
yc_case_has_clause(const yc_case_t *c, const char *clause)
{
    size_t n = strlen(clause);
    const char *p = c->clauses;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, clause, n) == 0) {
            return 1;
        }
        if (end == NULL) {
            break;
        }
        p = end + 1;
    }
    return 0;
}

/* ---- aggregation ------------------------------------------------------ */

typedef struct {
    size_t n[YC_NSTATUS];
    size_t total;
    size_t bad;          /* outcome != ok */
    size_t xfail;        /* failed as expected */
} tally_t;

static void
tally_add(tally_t *t, const yc_result_t *r)
{
    t->n[r->status]++;
    t->total++;
    if (r->outcome != YC_OK) {
        t->bad++;
    }
    else if (r->status != YC_PASS && r->status != YC_SKIP) {
        t->xfail++;
    }
}

static const char *
tally_verdict(const tally_t *t)
{
    if (t->total == 0) {
        return "--";
    }
    if (t->bad) {
        return "FAIL";
    }
    if (t->xfail) {
        return "xfail";
    }
    if (t->n[YC_SKIP] == t->total) {
        return "skip";
    }
    return "ok";
}

static tally_t
clause_tally(const yc_run_t *run, const char *clause)
{
    tally_t t;
    memset(&t, 0, sizeof t);
    for (size_t i = 0; i < run->ncases; i++) {
        if (yc_case_has_clause(&run->cases[i], clause)) {
            tally_add(&t, &run->results[i]);
        }
    }
    return t;
}

static tally_t
area_tally(const yc_run_t *run, const char *area)
{
    tally_t t;
    memset(&t, 0, sizeof t);
    for (size_t i = 0; i < run->ncases; i++) {
        if (area == NULL || strcmp(run->cases[i].area, area) == 0) {
            tally_add(&t, &run->results[i]);
        }
    }
    return t;
}

/* ---- console ------------------------------------------------------------ */

static void
print_indented(const char *msg, int max_lines)
{
    const char *p = msg;
    int lines = 0;
    while (p && *p && lines < max_lines) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        printf("        %.*s\n", len, p);
        lines++;
        p = nl ? nl + 1 : NULL;
    }
    if (p && *p) {
        printf("        ...\n");
    }
}

void
yc_print_console(const yc_run_t *run)
{
    size_t nbad = 0;
    printf("\n");
    for (size_t i = 0; i < run->ncases; i++) {
        const yc_case_t *c = &run->cases[i];
        const yc_result_t *r = &run->results[i];
        if (r->outcome != YC_OK) {
            nbad++;
            const char *tag = r->outcome == YC_XPASS ? "UNEXPECTED PASS"
                              : r->outcome == YC_REGRESSED ? "REGRESSED"
                              : "UNEXPECTED";
            printf("  %-7s %s   <-- %s (expected %s)\n",
                   yc_status_names[r->status], c->inst, tag, c->expected);
            if (r->message && *r->message) {
                print_indented(r->message, 30);
            }
            if (r->outcome != YC_UNEXPECTED && c->reason[0]) {
                printf("        expectation: %s\n", c->reason);
            }
        }
        else if (run->verbose || (r->status != YC_PASS
                                  && r->status != YC_SKIP))
        {
            printf("  %-7s %s%s\n", yc_status_names[r->status], c->inst,
                   r->status == YC_PASS || r->status == YC_SKIP
                       ? "" : "   (expected)");
            if (run->verbose && r->status != YC_PASS && r->message
                && *r->message)
            {
                print_indented(r->message, 6);
            }
        }
    }

    printf("\n  %-30s %-6s %5s %5s %5s %5s %5s  %s\n", "clause", "level",
           "pass", "fail", "crash", "tmout", "skip", "result");
    size_t lv_total[3] = {0}, lv_ok[3] = {0};
    const char *levels[3] = {"MUST", "SHOULD", "MAY"};
    for (size_t a = 0; a < run->nareas; a++) {
        for (size_t k = 0; k < run->nclauses; k++) {
            const yc_clause_t *cl = &run->clauses[k];
            if (strcmp(cl->area, run->areas[a].id) != 0) {
                continue;
            }
            tally_t t = clause_tally(run, cl->id);
            if (t.total == 0) {
                continue;          /* filtered out */
            }
            const char *v = tally_verdict(&t);
            for (int l = 0; l < 3; l++) {
                if (strcmp(cl->level, levels[l]) == 0) {
                    lv_total[l]++;
                    lv_ok[l] += strcmp(v, "ok") == 0 || strcmp(v, "skip") == 0;
                }
            }
            printf("  %-30s %-6s %5zu %5zu %5zu %5zu %5zu  %s\n", cl->id,
                   cl->level, t.n[YC_PASS], t.n[YC_FAIL] + t.n[YC_ERROR],
                   t.n[YC_CRASH], t.n[YC_TIMEOUT], t.n[YC_SKIP], v);
        }
    }

    printf("\n  %-9s %8s %5s %5s %5s %5s %5s  %s\n", "area", "clauses",
           "pass", "fail", "crash", "tmout", "skip", "result");
    for (size_t a = 0; a < run->nareas; a++) {
        size_t ok = 0, total = 0;
        for (size_t k = 0; k < run->nclauses; k++) {
            if (strcmp(run->clauses[k].area, run->areas[a].id) != 0) {
                continue;
            }
            tally_t ct = clause_tally(run, run->clauses[k].id);
            if (ct.total == 0) {
                continue;
            }
            total++;
            const char *v = tally_verdict(&ct);
            ok += strcmp(v, "ok") == 0 || strcmp(v, "skip") == 0;
        }
        tally_t t = area_tally(run, run->areas[a].id);
        if (t.total == 0) {
            continue;
        }
        char frac[24];
        snprintf(frac, sizeof frac, "%zu/%zu", ok, total);
        printf("  %-9s %8s %5zu %5zu %5zu %5zu %5zu  %s\n", run->areas[a].id,
               frac, t.n[YC_PASS], t.n[YC_FAIL] + t.n[YC_ERROR],
               t.n[YC_CRASH], t.n[YC_TIMEOUT], t.n[YC_SKIP],
               tally_verdict(&t));
    }

    tally_t all = area_tally(run, NULL);
    printf("\n  clauses fully passing: MUST %zu/%zu, SHOULD %zu/%zu, "
           "MAY %zu/%zu\n", lv_ok[0], lv_total[0], lv_ok[1], lv_total[1],
           lv_ok[2], lv_total[2]);
    printf("  %zu instances in %.1f s: PASS %zu, FAIL %zu, CRASH %zu, "
           "TIMEOUT %zu, SKIP %zu, harness ERROR %zu; %zu failed as "
           "expected\n", all.total, run->wall_seconds, all.n[YC_PASS],
           all.n[YC_FAIL], all.n[YC_CRASH], all.n[YC_TIMEOUT],
           all.n[YC_SKIP], all.n[YC_ERROR], all.xfail);
    if (nbad == 0) {
        printf("  result: %s matches its expectations\n", run->impl_name);
    }
    else {
        size_t un = 0, xp = 0, rg = 0;
        for (size_t i = 0; i < run->ncases; i++) {
            un += run->results[i].outcome == YC_UNEXPECTED;
            xp += run->results[i].outcome == YC_XPASS;
            rg += run->results[i].outcome == YC_REGRESSED;
        }
        printf("  result: MISMATCH -- %zu unexpected failures, %zu "
               "unexpected passes, %zu changed failure kinds\n", un, xp, rg);
    }
}

/* ---- JSON --------------------------------------------------------------- */

static void
json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : "");
         *p; p++)
    {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20) {
                fprintf(f, "\\u%04x", *p);
            }
            else {
                fputc(*p, f);
            }
        }
    }
    fputc('"', f);
}

static void
json_list(FILE *f, const char *s, char sep)
{
    fputc('[', f);
    const char *p = s;
    int first = 1;
    while (p && *p) {
        const char *end = strchr(p, sep);
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char buf[256];
        snprintf(buf, sizeof buf, "%.*s", (int)len, p);
        if (!first) {
            fputs(", ", f);
        }
        json_str(f, buf);
        first = 0;
        p = end ? end + 1 : NULL;
    }
    fputc(']', f);
}

static void
json_tally(FILE *f, const tally_t *t)
{
    fprintf(f, "{\"PASS\": %zu, \"FAIL\": %zu, \"CRASH\": %zu, "
            "\"TIMEOUT\": %zu, \"SKIP\": %zu, \"ERROR\": %zu, "
            "\"expected_failures\": %zu, \"unexpected\": %zu}",
            t->n[YC_PASS], t->n[YC_FAIL], t->n[YC_CRASH], t->n[YC_TIMEOUT],
            t->n[YC_SKIP], t->n[YC_ERROR], t->xfail, t->bad);
}

int
yc_write_json(const yc_run_t *run, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    tally_t all = area_tally(run, NULL);
    fputs("{\n \"format\": \"yp-conform-report/1\",\n \"implementation\": ", f);
    json_str(f, run->impl_name);
    fputs(",\n \"module\": ", f);
    json_str(f, run->impl);
    fputs(",\n \"module_file\": ", f);
    json_str(f, run->impl_file);
    fputs(",\n \"adapter_contract\": ", f);
    json_str(f, run->contract);
    fputs(",\n \"spec_version\": ", f);
    json_str(f, run->spec_version);
    fputs(",\n \"variants\": ", f);
    json_list(f, run->variants, ',');
    fputs(",\n \"loops\": ", f);
    json_str(f, run->loops);
    fputs(",\n \"expectations\": ", f);
    json_str(f, run->expectations_used);
    fprintf(f, ",\n \"seconds\": %.2f,\n \"matches_expectations\": %s,\n"
            " \"summary\": ", run->wall_seconds, all.bad ? "false" : "true");
    json_tally(f, &all);
    fputs(",\n \"areas\": [", f);
    for (size_t a = 0; a < run->nareas; a++) {
        tally_t t = area_tally(run, run->areas[a].id);
        fputs(a ? ",\n  {\"id\": " : "\n  {\"id\": ", f);
        json_str(f, run->areas[a].id);
        fputs(", \"title\": ", f);
        json_str(f, run->areas[a].title);
        fprintf(f, ", \"result\": \"%s\", \"counts\": ", tally_verdict(&t));
        json_tally(f, &t);
        fputc('}', f);
    }
    fputs("\n ],\n \"clauses\": [", f);
    for (size_t k = 0; k < run->nclauses; k++) {
        const yc_clause_t *cl = &run->clauses[k];
        tally_t t = clause_tally(run, cl->id);
        fputs(k ? ",\n  {\"id\": " : "\n  {\"id\": ", f);
        json_str(f, cl->id);
        fprintf(f, ", \"area\": \"%s\", \"level\": \"%s\", \"result\": "
                "\"%s\", \"counts\": ", cl->area, cl->level,
                tally_verdict(&t));
        json_tally(f, &t);
        fputc('}', f);
    }
    fputs("\n ],\n \"cases\": [", f);
    for (size_t i = 0; i < run->ncases; i++) {
        const yc_case_t *c = &run->cases[i];
        const yc_result_t *r = &run->results[i];
        fputs(i ? ",\n  {\"id\": " : "\n  {\"id\": ", f);
        json_str(f, c->inst);
        fputs(", \"case\": ", f);
        json_str(f, c->case_id);
        fputs(", \"way\": ", f);
        json_str(f, c->way);
        fputs(", \"loop\": ", f);
        json_str(f, c->loop);
        fputs(", \"area\": ", f);
        json_str(f, c->area);
        fputs(", \"clauses\": ", f);
        json_list(f, c->clauses, ',');
        fprintf(f, ", \"status\": \"%s\", \"expected\": ",
                yc_status_names[r->status]);
        json_list(f, c->expected, '|');
        fprintf(f, ", \"outcome\": \"%s\", \"seconds\": %.3f, \"message\": ",
                outcome_names[r->outcome], r->seconds);
        json_str(f, r->message);
        fputs(", \"expectation_reason\": ", f);
        json_str(f, c->reason);
        fputc('}', f);
    }
    fputs("\n ]\n}\n", f);
    return fclose(f) == 0 ? 0 : -1;
}

/* ---- JUnit XML ------------------------------------------------------------ */

static void
xml_str(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : "");
         *p; p++)
    {
        switch (*p) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if (*p < 0x20 && *p != '\n' && *p != '\t') {
                fputc('?', f);
            }
            else {
                fputc(*p, f);
            }
        }
    }
}

int
yc_write_junit(const yc_run_t *run, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    tally_t all = area_tally(run, NULL);
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<testsuites name=\"yp-conform ");
    xml_str(f, run->impl_name);
    fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" time=\"%.2f\">\n",
            all.total, all.bad, run->wall_seconds);
    for (size_t a = 0; a < run->nareas; a++) {
        tally_t t = area_tally(run, run->areas[a].id);
        if (t.total == 0) {
            continue;
        }
        fprintf(f, "  <testsuite name=\"%s\" tests=\"%zu\" failures=\"%zu\" "
                "skipped=\"%zu\">\n", run->areas[a].id, t.total, t.bad,
                t.n[YC_SKIP] + t.xfail);
        for (size_t i = 0; i < run->ncases; i++) {
            const yc_case_t *c = &run->cases[i];
            const yc_result_t *r = &run->results[i];
            if (strcmp(c->area, run->areas[a].id) != 0) {
                continue;
            }
            fputs("    <testcase classname=\"", f);
            xml_str(f, c->area);
            fputs("\" name=\"", f);
            xml_str(f, c->inst);
            fprintf(f, "\" time=\"%.3f\">", r->seconds);
            if (r->outcome != YC_OK) {
                const char *el = (r->status == YC_FAIL || r->status == YC_PASS)
                                     ? "failure" : "error";
                fprintf(f, "\n      <%s type=\"%s\" message=\"", el,
                        r->outcome == YC_XPASS ? "UNEXPECTED-PASS"
                                               : yc_status_names[r->status]);
                xml_str(f, r->outcome == YC_XPASS ? "passed, but the "
                        "expectations say it fails" : "");
                fputs("\">", f);
                xml_str(f, r->message);
                fprintf(f, "\n      clauses: ");
                xml_str(f, c->clauses);
                fprintf(f, "</%s>\n    ", el);
            }
            else if (r->status == YC_SKIP) {
                fputs("<skipped message=\"", f);
                xml_str(f, r->message);
                fputs("\"/>", f);
            }
            else if (r->status != YC_PASS) {
                fprintf(f, "<skipped message=\"expected %s: ",
                        yc_status_names[r->status]);
                xml_str(f, c->reason);
                fputs("\"/>", f);
            }
            fputs("</testcase>\n", f);
        }
        fputs("  </testsuite>\n", f);
    }
    fputs("</testsuites>\n", f);
    return fclose(f) == 0 ? 0 : -1;
}

/* ---- TAP ------------------------------------------------------------------ */

static void
tap_yaml(FILE *f, const char *key, const char *text)
{
    fprintf(f, "    %s: |\n", key);
    const char *p = text;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        fprintf(f, "      %.*s\n", len, p);
        p = nl ? nl + 1 : NULL;
    }
}

int
yc_write_tap(const yc_run_t *run, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    fprintf(f, "TAP version 13\n1..%zu\n", run->ncases);
    for (size_t i = 0; i < run->ncases; i++) {
        const yc_case_t *c = &run->cases[i];
        const yc_result_t *r = &run->results[i];
        int ok = r->outcome == YC_OK;
        fprintf(f, "%s %zu - %s", ok ? "ok" : "not ok", i + 1, c->inst);
        if (r->status == YC_SKIP) {
            fprintf(f, " # SKIP %s", r->message ? r->message : "");
        }
        else if (ok && r->status != YC_PASS) {
            fprintf(f, " # TODO expected %s: %s", yc_status_names[r->status],
                    c->reason);
        }
        fputc('\n', f);
        if (!ok) {
            fprintf(f, "  ---\n    status: %s\n    expected: %s\n"
                    "    outcome: %s\n    clauses: [%s]\n",
                    yc_status_names[r->status], c->expected,
                    outcome_names[r->outcome], c->clauses);
            tap_yaml(f, "message", r->message);
            fputs("  ...\n", f);
        }
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* --- --write-expectations ------------------------------------------------ */

/* Keyed by case ID when every selected instance of the case failed with
 * the same kind (the usual shape of a real divergence), by instance ID
 * otherwise.  A failure the old file already explained keeps its reason;
 * a new one gets "TODO" plus its first message line, so the file cannot be
 * committed silently: a reviewer sees exactly which reasons are owed. */
static int
same_kind_for_case(const yc_run_t *run, size_t i)
{
    const yc_case_t *c = &run->cases[i];
    for (size_t j = 0; j < run->ncases; j++) {
        if (strcmp(run->cases[j].case_id, c->case_id) == 0
            && run->results[j].status != run->results[i].status)
        {
            return 0;
        }
    }
    return 1;
}

static void
write_reason(FILE *f, const yc_case_t *c, const yc_result_t *r)
{
    char buf[600];
    if (c->reason[0] != '\0') {
        json_str(f, c->reason);
        return;
    }
    const char *msg = r->message ? r->message : "";
    size_t n = strcspn(msg, "\n");
    snprintf(buf, sizeof buf, "TODO: explain. First seen: %.*s",
             (int)(n > 400 ? 400 : n), msg);
    json_str(f, buf);
}

int
yc_write_expectations(const yc_run_t *run, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "yp-conform: cannot write %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    fputs("{\n  \"implementation\": ", f);
    json_str(f, run->impl_name);
    fputs(",\n  \"comment\": \"Generated by yp-conform --write-expectations "
          "from one run; replace every TODO reason with the divergence's "
          "cause before committing.\",\n  \"expected\": {", f);
    size_t written = 0, errors = 0;
    for (size_t i = 0; i < run->ncases; i++) {
        const yc_case_t *c = &run->cases[i];
        const yc_result_t *r = &run->results[i];
        if (r->status == YC_PASS || r->status == YC_SKIP) {
            continue;
        }
        if (r->status == YC_ERROR) {
            /* a harness error is a broken adapter, never an expectation */
            errors++;
            continue;
        }
        const char *key = c->inst;
        if (same_kind_for_case(run, i)) {
            /* emit the case once, at its first instance */
            size_t first = i;
            for (size_t j = 0; j < i; j++) {
                if (strcmp(run->cases[j].case_id, c->case_id) == 0) {
                    first = j;
                    break;
                }
            }
            if (first != i) {
                continue;
            }
            key = c->case_id;
        }
        fputs(written ? ",\n    " : "\n    ", f);
        json_str(f, key);
        fputs(": {\"result\": ", f);
        json_str(f, yc_status_names[r->status]);
        fputs(", \"reason\": ", f);
        write_reason(f, c, r);
        fputc('}', f);
        written++;
    }
    fputs(written ? "\n  }\n}\n" : "}\n}\n", f);
    if (fclose(f) != 0) {
        fprintf(stderr, "yp-conform: writing %s failed\n", path);
        return -1;
    }
    printf("wrote %zu expectation%s to %s\n", written,
           written == 1 ? "" : "s", path);
    if (errors) {
        fprintf(stderr, "yp-conform: %zu harness error%s not written as "
                "expectations; fix the adapter\n", errors,
                errors == 1 ? "" : "s");
    }
    return 0;
}
