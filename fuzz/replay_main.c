/*
 * replay_main.c -- a standalone main for any fuzz target, so every target
 * also builds with gcc (+ASan/UBSan) and replays inputs in plain CI.
 *
 *   replay [-q] FILE_OR_DIR...
 *
 * Calls LLVMFuzzerInitialize (if the target defines it) once, then
 * LLVMFuzzerTestOneInput once per file (directories: every regular file
 * in them, sorted, non-recursive; names starting with '.' or ending in
 * ".md" are skipped).  Exit status 0 when every input ran; a failing
 * input aborts, as under libFuzzer.  No argument, or only empty
 * directories, is not an error: an empty corpus replays trivially.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int quiet;
static long ran;

static int
run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (buf == NULL) {
            fclose(f);
            fprintf(stderr, "replay: out of memory\n");
            return -1;
        }
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) {
            break;
        }
        cap *= 2;
        buf = realloc(buf, cap);
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        fprintf(stderr, "replay: %s: read error\n", path);
        return -1;
    }
    if (!quiet) {
        fprintf(stderr, "replay: %s (%zu bytes)\n", path, n);
    }
    /* An exact-size copy, so ASan sees reads past the end of the input. */
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
    ran++;
    return 0;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        return run_file(path);
    }
    DIR *d = opendir(path);
    if (d == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.'
            || (len > 3 && strcmp(e->d_name + len - 3, ".md") == 0))
        {
            continue;
        }
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof(*names));
        }
        size_t plen = strlen(path) + len + 2;
        names[count] = malloc(plen);
        snprintf(names[count], plen, "%s/%s", path, e->d_name);
        count++;
    }
    closedir(d);
    if (count) {
        qsort(names, count, sizeof(*names), cmp_str);
    }
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        struct stat fst;
        if (stat(names[i], &fst) == 0 && S_ISREG(fst.st_mode)) {
            if (run_file(names[i]) != 0) {
                rc = -1;
            }
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int
main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize != NULL) {
        LLVMFuzzerInitialize(&argc, &argv);
    }
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-q") == 0) {
            quiet = 1;
            continue;
        }
        if (argv[i][0] == '-') {
            continue;   /* libFuzzer-style flags are ignored */
        }
        if (run_path(argv[i]) != 0) {
            rc = 1;
        }
    }
    fprintf(stderr, "replay: %ld input(s) ran%s\n", ran,
            rc ? ", some could not be read" : "");
    return rc;
}
