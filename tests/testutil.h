/* testutil.h - what the cmocka tests share: running the ipusim program
 * ($IPUSIM_BIN, set by ctest) with its output captured, and a private
 * temporary folder. Header-only; include after <cmocka.h>. */
#ifndef IPUSIM_TESTUTIL_H
#define IPUSIM_TESTUTIL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Runs `ipusim ARGS` with OMP_NUM_THREADS=2, in dir unless dir is NULL.
 * out (cap bytes, NUL-terminated) gets stdout, and stderr too when
 * with_stderr (else stderr is dropped). Returns the exit code. */
static inline int tu_ipusim(const char *dir, const char *args, int with_stderr, char *out, size_t cap)
{
    const char *bin = getenv("IPUSIM_BIN");
    assert_non_null(bin);
    char cmd[8192];
    int n = snprintf(cmd, sizeof cmd, "%s%s%sOMP_NUM_THREADS=2 '%s' %s %s", dir ? "cd '" : "", dir ? dir : "",
                     dir ? "' && " : "", bin, args, with_stderr ? "2>&1" : "2>/dev/null");
    assert_true(n > 0 && (size_t)n < sizeof cmd);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t got = fread(out, 1, cap - 1, p);
    out[got] = '\0';
    int st = pclose(p);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* Makes a new folder /tmp/<prefix>XXXXXX into buf; 0 or -1. */
static inline int tu_tmpdir_create(char *buf, size_t cap, const char *prefix)
{
    if (snprintf(buf, cap, "/tmp/%sXXXXXX", prefix) >= (int)cap)
        return -1;
    return mkdtemp(buf) ? 0 : -1;
}

/* Removes a folder made by tu_tmpdir_create, with what it holds; 0 or -1. */
static inline int tu_tmpdir_remove(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The names in dir, sorted, space-separated ("." and ".." left out; "" for
 * an empty or missing folder). Points to a static buffer. */
static inline const char *tu_listing(const char *dir)
{
    static char buf[4096];
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort);
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (strcmp(ents[i]->d_name, ".") && strcmp(ents[i]->d_name, ".."))
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", buf[0] ? " " : "", ents[i]->d_name);
        free(ents[i]);
    }
    if (n >= 0)
        free(ents);
    return buf;
}

#endif
