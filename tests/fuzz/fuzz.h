/* fuzz.h - what the libFuzzer harnesses (tests/fuzz/fuzz_*.c) share.
 *
 * Each harness defines LLVMFuzzerTestOneInput (and may define
 * LLVMFuzzerInitialize) and checks invariants with FUZZ_CHECK, which prints
 * the broken invariant and aborts, so libFuzzer and the replay driver
 * (tests/fuzz/replay.c) both report it as a crash. Inputs that are files for
 * the parser go to a private temp folder made once per process and removed
 * at exit. Header-only: each harness is one translation unit.
 */
#ifndef IPUSIM_FUZZ_H
#define IPUSIM_FUZZ_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_CHECK(cond, ...)                                                                    \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "fuzz invariant broken at %s:%d: %s\n  ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                        \
            fputc('\n', stderr);                                                                 \
            abort();                                                                             \
        }                                                                                        \
    } while (0)

static char fuzz_tmp[256];

/* Removes every file in the temp folder (it holds no subfolders). */
static inline void fuzz_clear(void)
{
    DIR *d = opendir(fuzz_tmp);
    if (!d)
        return;
    for (struct dirent *de; (de = readdir(d));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char p[600];
        snprintf(p, sizeof p, "%s/%s", fuzz_tmp, de->d_name);
        unlink(p);
    }
    closedir(d);
}

static inline void fuzz_remove_tmp(void)
{
    fuzz_clear();
    rmdir(fuzz_tmp);
}

/* The process's temp folder, made on first use. */
static inline const char *fuzz_dir(void)
{
    if (!fuzz_tmp[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(fuzz_tmp, sizeof fuzz_tmp, "%s/ipusim_fuzz_XXXXXX", t && *t ? t : "/tmp");
        FUZZ_CHECK(mkdtemp(fuzz_tmp) != NULL, "cannot make a temp folder under %s", t && *t ? t : "/tmp");
        atexit(fuzz_remove_tmp);
    }
    return fuzz_tmp;
}

/* The path of name in the temp folder. */
static inline const char *fuzz_path(const char *name)
{
    static char p[2][600];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", fuzz_dir(), name);
    return p[k];
}

/* Writes size bytes as temp-folder file name; returns its path. */
static inline const char *fuzz_write(const char *name, const void *data, size_t size)
{
    const char *p = fuzz_path(name);
    FILE *f = fopen(p, "wb");
    FUZZ_CHECK(f != NULL, "cannot write %s", p);
    FUZZ_CHECK(fwrite(data, 1, size, f) == size && fclose(f) == 0, "short write to %s", p);
    return p;
}

/* data[0..size) as a NUL-terminated string (malloc'ed); NUL bytes inside stay. */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    FUZZ_CHECK(s != NULL, "out of memory");
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
