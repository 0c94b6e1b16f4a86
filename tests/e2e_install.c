/* e2e_install.c - `cmake --install` of the build tree this test runs from
 * ($IPUSIM_BUILD_DIR) into a temporary prefix, then what a library user
 * does with it: build docs/examples/gptj_timing.c with `pkg-config --cflags
 * --libs ipusim` (and --static), and through find_package(ipusim) (shared
 * and static), run it on gptj-tiny in timing mode on a small pod4, check
 * its figures against the installed ipusim program's `run --json`, and
 * check that every build prints the same for gptj-micro. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/testutil.h"
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

/* gptj-tiny, timing mode, fp16 and q4g:64 (the defaults of the example) on a pod4 with fewer tiles: about a second. */
#define EXAMPLE_ARGS "gptj-tiny arch=pod4 arch.tiles_per_chip=368 prompt_len=8 gen_tokens=3"
#define RUN_ARGS "--set model=gptj-tiny --set arch=pod4 --set arch.tiles_per_chip=368 --set prompt_len=8 --set gen_tokens=3"
/* The other builds are compared on gptj-micro (q4g:64 does not divide its per-chip axes). */
#define MICRO_ARGS "gptj-micro arch=pod4 prompt_len=8 gen_tokens=2 formats=fp16,q4g:8"

static char tmp[256], prefix[300], libdir[400];
static char out[1 << 16], micro_out[1 << 16], pkgconf[600];
static const char *src_dir, *build_dir, *cmake, *cc, *libdir_rel, *version;

/* Runs shell commands with their stdout and stderr into out; returns the exit code. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[8192] = "{ ";
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd + 2, sizeof cmd - 16, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof cmd - 16);
    strcat(cmd, "\n} 2>&1");
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t got = fread(out, 1, sizeof out - 1, p);
    out[got] = '\0';
    int st = pclose(p);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

#define assert_sh_ok(...)                                                      \
    do {                                                                       \
        if (sh(__VA_ARGS__))                                                   \
            fail_msg("command failed:\n%s", out);                              \
    } while (0)

#define assert_out_has(s)                                                      \
    do {                                                                       \
        if (!strstr(out, (s)))                                                 \
            fail_msg("output lacks '%s':\n%s", (s), out);                      \
    } while (0)

static int exists(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", prefix, rel);
    struct stat st;
    return stat(path, &st) == 0;
}

/* The value of "key=" in the line of text that starts with "format:". */
static double figure(const char *text, const char *format, const char *key)
{
    char head[48], k[48];
    snprintf(head, sizeof head, "\n%s: ", format);
    snprintf(k, sizeof k, " %s=", key);
    const char *line = strstr(text, head);
    if (!line)
        fail_msg("no line for format %s in:\n%s", format, text);
    const char *end = strchr(line + 1, '\n'), *v = strstr(line, k);
    if (!v || (end && v > end))
        fail_msg("no %s for format %s in:\n%s", key, format, text);
    return strtod(v + strlen(k), NULL);
}

/* Installs the build tree once for every test of the group. */
static int setup(void **state)
{
    (void)state;
    src_dir = getenv("IPUSIM_SOURCE_DIR");
    build_dir = getenv("IPUSIM_BUILD_DIR");
    cmake = getenv("IPUSIM_CMAKE");
    cc = getenv("IPUSIM_CC");
    libdir_rel = getenv("IPUSIM_INSTALL_LIBDIR");
    version = getenv("IPUSIM_VERSION");
    if (!src_dir || !build_dir || !cmake || !cc || !libdir_rel || !version) {
        fprintf(stderr, "e2e_install: run through ctest (it sets IPUSIM_BUILD_DIR, IPUSIM_CMAKE, ...)\n");
        return -1;
    }
    if (tu_tmpdir_create(tmp, sizeof tmp, "ipusim_test_e2e_install_"))
        return -1;
    snprintf(prefix, sizeof prefix, "%s/prefix", tmp);
    snprintf(libdir, sizeof libdir, "%s/%s", prefix, libdir_rel);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' --install '%s' --prefix '%s' >'%s/install.log' 2>&1", cmake, build_dir, prefix, tmp);
    if (system(cmd)) {
        snprintf(cmd, sizeof cmd, "cat '%s/install.log' >&2", tmp);
        (void)!system(cmd);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tu_tmpdir_remove(tmp);
}

/* The program, both libraries, one header, the pkg-config and CMake package files. */
static void test_installed_files(void **state)
{
    (void)state;
    char rel[600];
    const char *files[] = {"bin/ipusim", "include/ipusim/ipusim.h", "libipusim.a", "libipusim.so",
                           "pkgconfig/ipusim.pc", "cmake/ipusim/ipusimConfig.cmake",
                           "cmake/ipusim/ipusimConfigVersion.cmake", "cmake/ipusim/ipusimTargets.cmake"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        if (strncmp(files[i], "bin/", 4) && strncmp(files[i], "include/", 8))
            snprintf(rel, sizeof rel, "%s/%s", libdir_rel, files[i]);
        else
            snprintf(rel, sizeof rel, "%s", files[i]);
        if (!exists(rel))
            fail_msg("not installed: %s/%s", prefix, rel);
    }
    /* no internal header: include/ holds ipusim/ipusim.h alone */
    assert_sh_ok("cd '%s/include' && find . -type f | sort", prefix);
    assert_string_equal(out, "./ipusim/ipusim.h\n");
    /* the shared library exports the API and nothing of the layers */
    assert_sh_ok("nm -D --defined-only '%s/libipusim.so' | awk '$2 ~ /^[TDBR]$/ {print $3}' | sort", libdir);
    assert_out_has("ipusim_run_timing\n");
    assert_out_has("ipusim_arch_create\n");
    for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n"))
        if (strncmp(l, "ipusim_", 7))
            fail_msg("libipusim.so exports a symbol outside the API: %s", l);
    assert_sh_ok("OMP_NUM_THREADS=2 '%s/bin/ipusim' arch list", prefix);
    assert_out_has("pod16");
}

/* docs/library.md shows the example as it is. */
static void test_example_in_docs(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/docs/examples/gptj_timing.c", src_dir);
    static char ex[1 << 15], doc[1 << 16];
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    ex[fread(ex, 1, sizeof ex - 1, f)] = '\0';
    fclose(f);
    snprintf(path, sizeof path, "%s/docs/library.md", src_dir);
    assert_non_null(f = fopen(path, "r"));
    doc[fread(doc, 1, sizeof doc - 1, f)] = '\0';
    fclose(f);
    if (!strstr(doc, ex))
        fail_msg("docs/library.md does not show docs/examples/gptj_timing.c as it is");
}

/* Reads tmp/name into out (NUL-terminated); the file must exist. */
static void read_tmp(const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("no file %s", path);
    out[fread(out, 1, sizeof out - 1, f)] = '\0';
    fclose(f);
}

/* pkg-config, strict C11, the shared library, gptj-tiny: the figures equal `ipusim run --json`'s. */
static void test_pkg_config_example(void **state)
{
    (void)state;
    snprintf(pkgconf, sizeof pkgconf, "PKG_CONFIG_PATH='%s/pkgconfig' pkg-config", libdir);
    assert_sh_ok("%s --modversion ipusim", pkgconf);
    out[strcspn(out, "\n")] = '\0';
    assert_string_equal(out, version);
    assert_sh_ok("'%s' -std=c11 -Wall -Wextra -Werror -pedantic '%s/docs/examples/gptj_timing.c' -o '%s/gptj_timing' "
                 "$(%s --cflags --libs ipusim) -Wl,-rpath,'%s'",
                 cc, src_dir, tmp, pkgconf, libdir);
    /* the example and the installed program with the same keys, side by side (each is one thread
     * for most of its run). A sanitizer build (35 s a run) leaves the program's run, the same
     * comparison, to the plain build: the suite's slowest tests there are near their timeout. */
    int compare = strcmp(getenv("IPUSIM_SANITIZE") ? getenv("IPUSIM_SANITIZE") : "", "ON") != 0;
    assert_sh_ok("cd '%s' && (%sOMP_NUM_THREADS=2 prefix/bin/ipusim run --json " RUN_ARGS " >run.json 2>run.err; "
                 "echo $? >run.rc) & OMP_NUM_THREADS=2 '%s/gptj_timing' " EXAMPLE_ARGS "; rc=$?; wait; exit $rc",
                 tmp, compare ? "" : "exit 0; ", tmp);
    static char ex_out[sizeof out];
    snprintf(ex_out, sizeof ex_out, "%s", out);
    char head[64];
    snprintf(head, sizeof head, "ipusim %s: gptj-tiny on pod4 (368 tiles per chip)\n", version);
    assert_out_has(head);
    double tpot16 = figure(ex_out, "fp16", "tpot_s"), tpot4 = figure(ex_out, "q4g:64", "tpot_s");
    assert_true(tpot16 > 0 && tpot4 > 0);
    assert_true(figure(ex_out, "q4g:64", "bits_per_param") < figure(ex_out, "fp16", "bits_per_param"));
    assert_true(figure(ex_out, "q4g:64", "step_bytes") < figure(ex_out, "fp16", "step_bytes"));
    assert_true(figure(ex_out, "fp16", "mbu") > 0 && figure(ex_out, "fp16", "mbu") <= 1);

    if (compare) {
        read_tmp("run.rc");
        if (atoi(out) != 0) {
            read_tmp("run.err");
            fail_msg("the installed ipusim run failed:\n%s", out);
        }
        read_tmp("run.json");
        cJSON *j = cJSON_Parse(out);
        if (!j)
            fail_msg("ipusim run --json printed no JSON:\n%s", out);
        cJSON *fs = cJSON_GetObjectItem(j, "formats");
        assert_int_equal(cJSON_GetArraySize(fs), 2);
        const char *keys[] = {"ttft_s", "tpot_s", "batched_token_s"};
        for (int i = 0; i < 2; i++) {
            cJSON *o = cJSON_GetArrayItem(fs, i);
            const char *fmt = cJSON_GetObjectItem(o, "format")->valuestring;
            for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
                cJSON *v = cJSON_GetObjectItem(o, keys[k]);
                if (!cJSON_IsNumber(v))
                    fail_msg("ipusim run --json: %s has no number %s", fmt, keys[k]);
                double lib = figure(ex_out, fmt, keys[k]);
                if (!(fabs(lib - v->valuedouble) <= 1e-5 * fabs(v->valuedouble)))
                    fail_msg("%s %s: library %.9g, program %.9g", fmt, keys[k], lib, v->valuedouble);
            }
        }
        cJSON_Delete(j);
    }

    /* a user error comes back as text through the installed library */
    assert_int_equal(sh("'%s/gptj_timing' gptj-tiny arch.tiles=3", tmp), 1);
    assert_out_has("ipusim_arch_create: override 0: unknown arch key 'tiles'");
    assert_int_equal(sh("'%s/gptj_timing' gptj-tiny batch=0", tmp), 1);
    assert_out_has("ipusim_run_timing: cfg.sets[0]: key 'batch'");

    /* the reference output of the other builds: gptj-micro, milliseconds even under sanitizers */
    assert_sh_ok("OMP_NUM_THREADS=2 '%s/gptj_timing' " MICRO_ARGS, tmp);
    snprintf(micro_out, sizeof micro_out, "%s", out);
    assert_out_has("q4g:8: ");
}

/* The static library through pkg-config --static (the command docs/library.md gives): the same
 * output, no libipusim.so loaded. */
static void test_pkg_config_static(void **state)
{
    (void)state;
    if (!micro_out[0])
        skip(); /* the shared build failed first */
    assert_sh_ok("'%s' -std=c11 '%s/docs/examples/gptj_timing.c' -o '%s/gptj_timing_static' $(%s --cflags ipusim) "
                 "-Wl,--as-needed -Wl,-Bstatic -lipusim -Wl,-Bdynamic $(%s --static --libs ipusim)",
                 cc, src_dir, tmp, pkgconf, pkgconf);
    assert_sh_ok("ldd '%s/gptj_timing_static'", tmp);
    if (strstr(out, "libipusim"))
        fail_msg("gptj_timing_static loads libipusim.so:\n%s", out);
    assert_sh_ok("OMP_NUM_THREADS=2 '%s/gptj_timing_static' " MICRO_ARGS, tmp);
    if (strcmp(out, micro_out))
        fail_msg("the static build printed\n%s\nthe shared build printed\n%s", out, micro_out);
}

/* find_package(ipusim VERSION EXACT): ipusim::ipusim and ipusim::ipusim_static give the same output. */
static void test_cmake_package(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/consumer", tmp);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/consumer/CMakeLists.txt", tmp);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "cmake_minimum_required(VERSION 3.20)\n"
            "project(ipusim_consumer LANGUAGES C)\n"
            "find_package(ipusim %s EXACT REQUIRED CONFIG)\n"
            "add_executable(timing_shared %s/docs/examples/gptj_timing.c)\n"
            "target_link_libraries(timing_shared PRIVATE ipusim::ipusim)\n"
            "add_executable(timing_static %s/docs/examples/gptj_timing.c)\n"
            "target_link_libraries(timing_static PRIVATE ipusim::ipusim_static)\n",
            version, src_dir, src_dir);
    fclose(f);
    assert_sh_ok("'%s' -S '%s/consumer' -B '%s/consumer/build' -DCMAKE_PREFIX_PATH='%s' -DCMAKE_C_COMPILER='%s' "
                 "-DCMAKE_BUILD_TYPE=Release && '%s' --build '%s/consumer/build'",
                 cmake, tmp, tmp, prefix, cc, cmake, tmp);
    /* the static one holds the library: it needs no libipusim.so */
    assert_sh_ok("ldd '%s/consumer/build/timing_static'", tmp);
    if (strstr(out, "libipusim"))
        fail_msg("timing_static loads libipusim.so:\n%s", out);
    if (!micro_out[0])
        skip(); /* the pkg-config test failed first */
    const char *bins[] = {"timing_shared", "timing_static"};
    for (int i = 0; i < 2; i++) {
        assert_sh_ok("OMP_NUM_THREADS=2 '%s/consumer/build/%s' " MICRO_ARGS, tmp, bins[i]);
        if (strcmp(out, micro_out))
            fail_msg("%s printed\n%s\nthe pkg-config build printed\n%s", bins[i], out, micro_out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_installed_files),
        cmocka_unit_test(test_example_in_docs),
        cmocka_unit_test(test_pkg_config_example),
        cmocka_unit_test(test_pkg_config_static),
        cmocka_unit_test(test_cmake_package),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
