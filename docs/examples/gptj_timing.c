/* gptj_timing.c - GPT-J in timing mode through libipusim: a machine from a
 * preset and overrides, one run, its figures per weight format.
 *
 *   gptj_timing [MODEL] [arch=PRESET] [arch.KEY=VALUE]... [RUN_KEY=VALUE]...
 *   gptj_timing gptj-tiny arch=pod4 arch.tiles_per_chip=368 gen_tokens=3
 *
 * Build: cc gptj_timing.c $(pkg-config --cflags --libs ipusim) -o gptj_timing
 */
#include <stdio.h>
#include <string.h>

#include <ipusim/ipusim.h>

#define MAX_SETS 64

int main(int argc, char **argv)
{
    ipusim_run_config cfg = {.model = "gptj-tiny", .formats = "fp16,q4g:64", .batch = 1, .prompt_len = 8};
    const char *preset = "pod4", *arch_sets[MAX_SETS], *run_sets[MAX_SETS];
    size_t narch = 0, nrun = 0;
    for (int i = 1; i < argc; i++) {
        if (!strchr(argv[i], '='))
            cfg.model = argv[i];
        else if (!strncmp(argv[i], "arch=", 5))
            preset = argv[i] + 5;
        else if (!strncmp(argv[i], "arch.", 5) && narch < MAX_SETS)
            arch_sets[narch++] = argv[i];
        else if (nrun < MAX_SETS)
            run_sets[nrun++] = argv[i]; /* any run key: gen_tokens=3, batch=4, placement=auto, ... */
    }
    cfg.sets = run_sets;
    cfg.nsets = nrun;

    ipusim_error err;
    ipusim_arch *arch;
    if (ipusim_arch_create(preset, arch_sets, narch, &arch, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    static ipusim_results res;
    char tiles[32] = "?";
    int rc = ipusim_run_timing(arch, &cfg, &res, &err);
    ipusim_arch_get(arch, "tiles_per_chip", tiles, sizeof tiles, NULL);
    ipusim_arch_destroy(arch);
    if (rc) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }

    printf("ipusim %s: %s on %s (%s tiles per chip)\n", ipusim_version(), cfg.model, preset, tiles);
    for (int i = 0; i < res.nformats; i++) {
        const ipusim_format_result *f = &res.formats[i];
        printf("%s: bits_per_param=%.4g ttft_s=%.6g tpot_s=%.6g batched_token_s=%.6g "
               "throughput_tokens_per_s=%.6g mbu=%.4f step_bytes=%.0f sram_peak_bytes=%llu\n",
               f->format, f->bits_per_param, f->ttft_s, f->tpot_s, f->batched_token_s,
               f->throughput_tokens_per_s, f->mbu, f->step_bytes, (unsigned long long)f->sram_peak_bytes);
        printf("  decode step cycles:");
        for (int p = 0; p < IPUSIM_PHASE_COUNT; p++)
            printf(" %s=%.0f", ipusim_phase_name(p), f->decode.cycles[p]);
        printf(" total=%.0f\n", f->decode.total_cycles);
    }
    return 0;
}
