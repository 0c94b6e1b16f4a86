/* test_matmul_plan.c - the linear planner's estimate (LinearPlan.est_cycles)
 * against the engine's cycles of the linear it builds, for GPT-J 6B's
 * per-chip linears at 4-way tensor parallelism, at few rows (M = 1, 12,
 * 256: decode and small batches) and many (M = 3072: Graphcore's MNLI batch
 * of 12 x 256, where the plan splits the rows into groups), one gc200 chip,
 * timing mode (host/bench_matmul.h builds them as the model does; `ipusim
 * bench matmul` prints the same figures for more shapes).
 *
 * Measured / estimated cycles when the tolerances were set (the estimate
 * counting the output row's receiving tile and the row groups' weight
 * copies):
 *
 *   linear (K -> N)         M = 1   M = 12   M = 256   M = 3072
 *   qkv      4096 -> 3072   1.33    1.05     1.05      1.06
 *   out_proj 1024 -> 4096   1.59    1.39     1.09      1.08
 *   fc_in    4096 -> 4096   1.29    1.05     1.06      1.03
 *
 * (fc_out has fc_in's per-chip shape.) The estimate is low at few rows: it
 * counts what one grid tile receives, while x's row sits in 64-element
 * grains on K/64 tiles, each sending its grain to every one of the nb
 * N-block tiles (no multicast). The tolerances are a little above these
 * figures: they stop the estimate drifting, they do not tune it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>

#include "host/bench_matmul.h"

/* Allowed measured / estimated cycles, either way (a factor), by rows. */
#define EST_TOLERANCE_M1 1.75
#define EST_TOLERANCE_M12 1.5
#define EST_TOLERANCE_M256 1.15
#define EST_TOLERANCE_M3072 1.15

static void check_linear(const char *name, uint32_t k, uint32_t n)
{
    static const uint32_t rows[] = {1, 12, 256, 3072};
    static const double tol[] = {EST_TOLERANCE_M1, EST_TOLERANCE_M12, EST_TOLERANCE_M256, EST_TOLERANCE_M3072};
    IpuArch a;
    IpuErr e;
    if (arch_preset("gc200", &a, &e))
        fail_msg("%s", e.msg);
    for (int i = 0; i < 4; i++) {
        MatmulRun r;
        if (bench_matmul_run(&a, rows[i], k, n, &r, &e))
            fail_msg("%s", e.msg);
        double ratio = (double)r.cycles / r.plan.est_cycles;
        printf("%-8s M=%-4u K=%-5u N=%-5u grid %ux%ux%u: measured %llu, estimate %.0f, measured/estimate %.2f (tolerance %.2f)\n",
               name, rows[i], k, n, r.plan.nb, r.plan.kb, r.plan.mb, (unsigned long long)r.cycles, r.plan.est_cycles, ratio,
               tol[i]);
        assert_true(r.plan.est_cycles > 0);
        if (ratio > tol[i] || ratio < 1.0 / tol[i])
            fail_msg("%s M=%u: measured %llu vs estimate %.0f: ratio %.2f outside a factor %.2f", name, rows[i],
                     (unsigned long long)r.cycles, r.plan.est_cycles, ratio, tol[i]);
    }
}

static void test_qkv(void **s)
{
    (void)s;
    check_linear("qkv", 4096, 3072);
}

static void test_out_proj(void **s)
{
    (void)s;
    check_linear("out_proj", 1024, 4096);
}

static void test_fc_in_fc_out(void **s)
{
    (void)s;
    check_linear("fc_in", 4096, 4096);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qkv),
        cmocka_unit_test(test_out_proj),
        cmocka_unit_test(test_fc_in_fc_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
