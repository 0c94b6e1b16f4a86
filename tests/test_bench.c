/* test_bench.c - host/bench: the microbenchmarks run real graphs and land
 * on the figures their arch keys imply; the bench CLI's JSON and errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/bench.h"

static IpuArch arch_of(const char *name)
{
    IpuArch a;
    IpuErr e;
    assert_int_equal(arch_preset(name, &a, &e), 0);
    return a;
}

static void test_exchange_reaches_4_bytes_per_cycle(void **state)
{
    (void)state;
    IpuArch a = arch_of("gc200");
    BenchTable t;
    IpuErr e;
    assert_int_equal(bench_exchange(&a, &t, &e), 0);
    assert_true(t.nrows >= 5);
    /* 8 bytes: 2 cycles + 60 latency */
    assert_true(t.rows[0][1] == 62);
    assert_true(t.rows[t.nrows - 1][5] == 4.0);
    assert_true(t.rows[t.nrows - 1][4] > 7.5 && t.rows[t.nrows - 1][4] < 7.84); /* TB/s, 7.83 peak */
}

static void test_sync_figures(void **state)
{
    (void)state;
    IpuArch a = arch_of("pod16");
    BenchTable t;
    IpuErr e;
    assert_int_equal(bench_sync(&a, &t, &e), 0);
    assert_true(t.rows[0][2] == 90);
    assert_true(t.rows[1][2] == 130);
}

static void test_stream_tends_to_chip_cap_and_machine_share(void **state)
{
    (void)state;
    IpuArch a = arch_of("pod4");
    IpuErr e;
    arch_set(&a, "stream.bandwidth_bytes_per_s", "32e9", &e); /* 4 chips: 8 GB/s each, below the 16 cap */
    BenchTable t;
    assert_int_equal(bench_stream(&a, &t, &e), 0);
    double one = 0, four = 0;
    for (int r = 0; r < t.nrows; r++) {
        if (t.rows[r][1] == 1)
            one = t.rows[r][4];
        else
            four = t.rows[r][4];
    }
    assert_true(one > 15.5 && one <= 16.0);
    assert_true(four > 7.8 && four <= 8.0);
}

static void test_allreduce_bus_bandwidth_bound(void **state)
{
    (void)state;
    IpuArch a = arch_of("pod16");
    BenchTable t;
    IpuErr e;
    assert_int_equal(bench_allreduce(&a, &t, &e), 0);
    double bound = 16e9 * 0.85 * 2 / 1e9;
    double last = t.rows[t.nrows - 1][5];
    assert_true(last < bound && last > 0.95 * bound);
    IpuArch one = arch_of("gc200");
    assert_int_equal(bench_allreduce(&one, &t, &e), -1);
    assert_non_null(strstr(e.msg, "one chip"));
}

static void test_engine_bench_and_cli(void **state)
{
    (void)state;
    IpuArch a = arch_of("pod4");
    BenchTable t;
    IpuErr e;
    assert_int_equal(bench_engine(&a, 40, NULL, &t, &e), 0);
    assert_true(t.rows[0][3] == 40);
    /* per superstep: compute 30 + 12 + 101..103 x 6 (max 103) = 660, sync 130,
     * exchange 128 B / 4 + 60 = 92, sync 130 */
    assert_true(t.rows[0][7] == 10 * (660 + 130 + 92 + 130));

    const char *bin = getenv("IPUSIM_BIN");
    assert_non_null(bin);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' bench sync --arch pod4 --json > /dev/null", bin);
    assert_int_equal(WEXITSTATUS(system(cmd)), 0);
    snprintf(cmd, sizeof cmd, "'%s' bench sync --set link.count=-1 2>/dev/null", bin);
    assert_int_equal(WEXITSTATUS(system(cmd)), 1);
    snprintf(cmd, sizeof cmd, "'%s' bench nosuch 2>/dev/null", bin);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exchange_reaches_4_bytes_per_cycle),
        cmocka_unit_test(test_sync_figures),
        cmocka_unit_test(test_stream_tends_to_chip_cap_and_machine_share),
        cmocka_unit_test(test_allreduce_bus_bandwidth_bound),
        cmocka_unit_test(test_engine_bench_and_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
