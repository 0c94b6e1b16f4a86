/* ipusim.c - the public API of host/ipusim.h on top of the run
 * configuration (runcfg), the run loop (gptj_run) and the report's metrics
 * (report_add): the same path as `ipusim run` in timing mode, so a library
 * caller and the program get the same figures for the same keys. */
#include "host/ipusim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "host/gptj_run.h"
#include "host/report.h"
#include "host/run_timing.h"
#include "host/runcfg.h"
#include "sim/arch.h"

#ifndef IPUSIM_VERSION_TEXT
#error "IPUSIM_VERSION_TEXT (the project version) is defined by CMakeLists.txt"
#endif

_Static_assert((int)IPUSIM_PHASE_COUNT == (int)PHASE_COUNT, "ipusim_phase mirrors RunPhase");
#define SAME_PHASE(x) ((int)IPUSIM_PHASE_##x == (int)PHASE_##x)
_Static_assert(SAME_PHASE(STREAM) && SAME_PHASE(DECOMPRESS) && SAME_PHASE(MATMUL) && SAME_PHASE(ATTENTION) &&
                   SAME_PHASE(OTHER) && SAME_PHASE(EXCHANGE) && SAME_PHASE(SYNC) && SAME_PHASE(COLLECTIVE),
               "ipusim_phase mirrors RunPhase");
_Static_assert(IPUSIM_MAX_FORMATS == RUNCFG_MAX_FORMATS, "one result per format runcfg accepts");
_Static_assert(IPUSIM_ERROR_BYTES >= IPU_ERR_MSG_BYTES, "an IpuErr message fits");
_Static_assert(sizeof(((ipusim_format_result *)0)->format) >= sizeof(((FormatReport *)0)->format), "format name fits");
_Static_assert(sizeof(((ipusim_format_result *)0)->sram_peak_step) >= sizeof(((SramPeak *)0)->step), "step name fits");

/* The preset name and the overrides as given, replayed into a RunConfig as
 * arch / arch.<key> so a run resolves the machine exactly as `ipusim run`
 * would; arch is the same machine resolved now, to check it and to read. */
struct ipusim_arch {
    char preset[sizeof(((RunConfig *)0)->arch_name)];
    RunArchSet sets[RUNCFG_MAX_ARCH_SETS];
    int nsets;
    IpuArch arch;
};

/* Copies an internal message into the caller's, prefixed by the API function; returns -1. */
static int fail(ipusim_error *err, const char *fn, const IpuErr *e)
{
    if (!err)
        return -1;
    size_t n = (size_t)snprintf(err->msg, sizeof err->msg, "%s: ", fn);
    if (n < sizeof err->msg) { /* the message's end is cut when the prefix does not leave room */
        size_t m = strnlen(e->msg, sizeof err->msg - n - 1);
        memcpy(err->msg + n, e->msg, m);
        err->msg[n + m] = '\0';
    }
    return -1;
}

const char *ipusim_version(void) { return IPUSIM_VERSION_TEXT; }

const char *ipusim_arch_preset_name(size_t i)
{
    for (size_t k = 0; arch_preset_names[k]; k++)
        if (k == i)
            return arch_preset_names[k];
    return NULL;
}

/* The run key table's default of key name (the arch key's is the default machine). */
static const char *run_key_default(const char *name)
{
    for (size_t i = 0; i < runcfg_key_count(); i++) {
        RunKeyInfo k;
        runcfg_key_at(i, &k);
        if (!strcmp(k.name, name))
            return k.def;
    }
    IPU_ASSERT(!"run key in runcfg's table");
    return NULL;
}

/* One "key=value" override into a; an "arch." prefix is dropped. */
static int arch_override(ipusim_arch *a, size_t i, const char *kv, IpuErr *e)
{
    const char *eq = kv ? strchr(kv, '=') : NULL;
    if (!eq || eq == kv)
        return ipu_err(e, "override %zu '%s': expected key=value", i, kv ? kv : "(null)");
    const char *key = kv;
    if (!strncmp(key, "arch.", 5) && key + 5 < eq)
        key += 5;
    RunArchSet *s = &a->sets[a->nsets];
    size_t klen = (size_t)(eq - key);
    if (a->nsets >= RUNCFG_MAX_ARCH_SETS)
        return ipu_err(e, "override %zu '%s': more than %d overrides", i, kv, RUNCFG_MAX_ARCH_SETS);
    if (klen >= sizeof s->key || strlen(eq + 1) >= sizeof s->value)
        return ipu_err(e, "override %zu '%s': key or value too long", i, kv);
    memcpy(s->key, key, klen);
    s->key[klen] = '\0';
    snprintf(s->value, sizeof s->value, "%s", eq + 1);
    snprintf(s->source, sizeof s->source, "ipusim_arch override %zu", i);
    if (arch_set(&a->arch, s->key, s->value, e))
        return ipu_err_prefix(e, "override %zu", i);
    a->nsets++;
    return 0;
}

int ipusim_arch_create(const char *preset, const char *const *overrides, size_t noverrides, ipusim_arch **out,
                       ipusim_error *err)
{
    IpuErr e;
    if (!out) {
        ipu_err(&e, "out is NULL");
        return fail(err, __func__, &e);
    }
    *out = NULL;
    if (!preset)
        preset = run_key_default("arch");
    if (noverrides && !overrides) {
        ipu_err(&e, "%zu overrides but overrides is NULL", noverrides);
        return fail(err, __func__, &e);
    }
    ipusim_arch *a = calloc(1, sizeof *a);
    if (!a) {
        ipu_err(&e, "out of memory");
        return fail(err, __func__, &e);
    }
    if (strlen(preset) >= sizeof a->preset)
        ipu_err(&e, "preset '%.40s...': name too long", preset);
    else if (arch_preset(preset, &a->arch, &e) == 0) {
        snprintf(a->preset, sizeof a->preset, "%s", preset);
        size_t i = 0;
        while (i < noverrides && arch_override(a, i, overrides[i], &e) == 0)
            i++;
        if (i == noverrides && arch_validate(&a->arch, &e) == 0) {
            *out = a;
            return 0;
        }
        if (i == noverrides)
            ipu_err_prefix(&e, "arch '%s' with its %zu overrides", preset, noverrides);
    }
    free(a);
    return fail(err, __func__, &e);
}

void ipusim_arch_destroy(ipusim_arch *a) { free(a); }

int ipusim_arch_get(const ipusim_arch *a, const char *key, char *value, size_t cap, ipusim_error *err)
{
    IpuErr e;
    if (!a || !key || !value || cap == 0) {
        ipu_err(&e, "arch, key and value must be given (value with cap > 0)");
        return fail(err, __func__, &e);
    }
    if (!strncmp(key, "arch.", 5))
        key += 5;
    for (size_t i = 0; i < arch_key_count(); i++) {
        ArchKeyInfo k;
        arch_key_at(&a->arch, i, &k);
        if (strcmp(k.name, key))
            continue;
        if ((size_t)snprintf(value, cap, "%s", k.value) >= cap) {
            ipu_err(&e, "key '%s': value '%s' needs %zu bytes, cap is %zu", key, k.value, strlen(k.value) + 1, cap);
            return fail(err, __func__, &e);
        }
        return 0;
    }
    ipu_err(&e, "key '%s': unknown arch key (ipusim arch show lists them)", key);
    return fail(err, __func__, &e);
}

const char *ipusim_phase_name(int phase) { return phase >= 0 && phase < PHASE_COUNT ? run_phase_names[phase] : NULL; }

static int set_u32(RunConfig *rc, const char *key, uint32_t v, const char *source, IpuErr *e)
{
    char text[16];
    snprintf(text, sizeof text, "%u", v);
    return v ? runcfg_set(rc, key, text, source, e) : 0;
}

/* rc = the run key defaults, then cfg, then the arch handle; checked by runcfg_finish. */
static int resolve(const ipusim_arch *arch, const ipusim_run_config *cfg, RunConfig *rc, IpuErr *e)
{
    runcfg_init(rc);
    if (!cfg)
        return ipu_err(e, "cfg is NULL");
    if (cfg->nsets && !cfg->sets)
        return ipu_err(e, "cfg.nsets is %zu but cfg.sets is NULL", cfg->nsets);
    if (cfg->scenario && runcfg_load_file(rc, cfg->scenario, e))
        return -1;
    if ((cfg->model && runcfg_set(rc, "model", cfg->model, "cfg.model", e)) ||
        (cfg->formats && runcfg_set(rc, "formats", cfg->formats, "cfg.formats", e)) ||
        set_u32(rc, "batch", cfg->batch, "cfg.batch", e) || set_u32(rc, "prompt_len", cfg->prompt_len, "cfg.prompt_len", e) ||
        set_u32(rc, "gen_tokens", cfg->gen_tokens, "cfg.gen_tokens", e))
        return -1;
    for (size_t i = 0; i < cfg->nsets; i++) {
        char source[48];
        snprintf(source, sizeof source, "cfg.sets[%zu]", i);
        if (!cfg->sets[i])
            return ipu_err(e, "%s is NULL", source);
        if (runcfg_set_kv(rc, cfg->sets[i], source, e))
            return -1;
    }
    if (arch) {
        if (runcfg_set(rc, "arch", arch->preset, "arch handle", e))
            return -1;
        for (int i = 0; i < arch->nsets; i++) {
            char key[8 + sizeof arch->sets[i].key];
            snprintf(key, sizeof key, "arch.%s", arch->sets[i].key);
            if (runcfg_set(rc, key, arch->sets[i].value, arch->sets[i].source, e))
                return -1;
        }
    }
    if (rc->weights != RUN_WEIGHTS_NONE)
        return ipu_err(e, "key 'weights': the library runs timing mode only (weights = none); "
                          "functional runs are the program's: ipusim run --set weights=...");
    if (rc->checkpoint[0])
        return ipu_err(e, "key 'checkpoint': the library runs timing mode only, without weights");
    if (rc->prompt[0])
        return ipu_err(e, "key 'prompt': prompt text is for functional runs; give prompt_len for timing");
    return runcfg_finish(rc, e);
}

static void copy_step(ipusim_step *s, const double *cycles, double total_cycles, double hz)
{
    for (int p = 0; p < PHASE_COUNT; p++) {
        s->cycles[p] = cycles[p];
        s->s[p] = cycles[p] / hz;
    }
    s->total_cycles = total_cycles;
    s->total_s = total_cycles / hz;
}

static void copy_format(ipusim_format_result *o, const FormatReport *f)
{
    memset(o, 0, sizeof *o);
    snprintf(o->format, sizeof o->format, "%s", f->format);
    o->bits_per_param = f->bits_per_param;
    snprintf(o->placement, sizeof o->placement, "%s", runcfg_placement_name(f->placement));
    o->memory_proportion = f->memory_proportion;
    o->batch = f->batch;
    o->chips = f->chips;
    o->decode_steps = f->ndecode;
    o->clock_hz = f->clock_hz;
    o->ttft_s = f->ttft_s;
    o->tpot_s = f->tpot_s;
    o->latency_s = f->latency_s;
    o->throughput_tokens_per_s = f->throughput_tok_per_s;
    o->batched_token_s = f->batched_token_s;
    o->speedup_vs_fp16 = f->speedup_vs_fp16;
    o->step_bytes = f->step_bytes;
    o->achieved_bytes_per_s = f->achieved_bytes_per_s;
    o->peak_bytes_per_s = f->peak_bytes_per_s;
    o->mbu = f->mbu;
    o->weight_bytes = f->weight_bytes;
    o->sram_peak_bytes = f->sram.bytes;
    o->sram_peak_tile = f->sram.tile;
    snprintf(o->sram_peak_step, sizeof o->sram_peak_step, "%s", f->sram.step);
    copy_step(&o->prefill, f->prefill_cycles, f->prefill_total_cycles, f->clock_hz);
    copy_step(&o->decode, f->decode_cycles, f->decode_total_cycles, f->clock_hz);
}

int ipusim_run_timing(const ipusim_arch *arch, const ipusim_run_config *cfg, ipusim_results *out, ipusim_error *err)
{
    IpuErr e;
    if (!out) {
        ipu_err(&e, "out is NULL");
        return fail(err, __func__, &e);
    }
    memset(out, 0, sizeof *out);
    RunConfig *rc = malloc(sizeof *rc);
    if (!rc) {
        ipu_err(&e, "out of memory");
        return fail(err, __func__, &e);
    }
    Report rep;
    report_init(&rep, NULL);
    int rv = resolve(arch, cfg, rc, &e);
    if (rv == 0)
        rv = run_timing_formats(rc, &rep, &e);
    if (rv == 0) {
        IPU_ASSERT(rep.n == rc->nformats && rep.n <= IPUSIM_MAX_FORMATS);
        out->nformats = rep.n;
        for (int i = 0; i < rep.n; i++)
            copy_format(&out->formats[i], &rep.f[i]);
    }
    report_free(&rep);
    free(rc);
    return rv ? fail(err, __func__, &e) : 0;
}

int ipusim_run_config_text(const ipusim_arch *arch, const ipusim_run_config *cfg, char *text, size_t cap,
                           ipusim_error *err)
{
    IpuErr e;
    RunConfig *rc = malloc(sizeof *rc);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = NULL;
    int rv = -1;
    if (!rc)
        ipu_err(&e, "out of memory");
    else if (resolve(arch, cfg, rc, &e) == 0) {
        if (!(f = open_memstream(&buf, &len)))
            ipu_err(&e, "out of memory");
        else {
            runcfg_print(f, rc);
            if (fclose(f))
                ipu_err(&e, "out of memory");
            else if (text && len >= cap)
                ipu_err(&e, "the text needs %zu bytes, cap is %zu", len + 1, cap);
            else {
                if (text)
                    memcpy(text, buf, len + 1);
                rv = 0;
            }
        }
    }
    free(buf);
    free(rc);
    return rv ? fail(err, __func__, &e) : 0;
}
