/* runcfg.c - the run key table, scenario files and cross-key checks (see runcfg.h). */
#include "host/runcfg.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"
#include "codelets/registry.h"
#include "host/cli.h"

typedef enum { RK_STR, RK_U32, RK_U64, RK_F64, RK_ONOFF, RK_CHOICE } RunKeyType;

typedef struct RunKey {
    const char *name;
    RunKeyType type;
    size_t offset, size;  /* size: bytes of a string field */
    const char *unit;
    const char *def;
    double min, max;      /* RK_U32 and RK_F64 range (RK_F64: min excluded) */
    const char *choices;  /* RK_CHOICE: '|'-separated, stored as the index */
    const char *doc;
} RunKey;

#define F(field) offsetof(RunConfig, field)
#define S(field) F(field), sizeof(((RunConfig *)0)->field)

static const RunKey keys[] = {
    {"model", RK_STR, S(model), "-", "gptj-6b", 0, 0, NULL,
     "model preset (gptj-6b, gptj-tiny, gptj-micro) or a config.json; not given: key checkpoint's config.json"},
    {"checkpoint", RK_STR, S(checkpoint), "-", "", 0, 0, NULL,
     "Hugging Face checkpoint folder, read when weights = checkpoint; its config.json defines the model"},
    {"weights", RK_CHOICE, F(weights), 0, "-", "none", 0, 0, "none|synthetic|checkpoint",
     "none: timing mode (no arithmetic, no weights); synthetic: seeded weights, functional; checkpoint: real weights, functional"},
    {"seed", RK_U64, F(seed), 0, "-", "1", 0, 0, NULL, "seed of synthetic weights"},
    {"arch", RK_STR, S(arch_name), "-", "pod4", 0, 0, NULL,
     "arch preset (ipusim arch list); arch.<key> = value changes one machine number (ipusim arch show)"},
    {"chips", RK_U32, F(chips), 0, "chips", "0", 0, 1024, NULL,
     "tensor-parallel degree; 0 = every chip of the arch; must divide the heads"},
    {"formats", RK_STR, S(formats), "-", "fp16,q4g:64", 0, 0, NULL,
     "comma list of weight formats, each run in turn: fp16, q4g:N, s4g:N, nf4g:N[+dq], i8g:N, i8c, "
     "fp8e4m3[:tensor], fp8e5m2[:tensor] (N a multiple of 4; docs/weight-formats.md)"},
    {"keep_fp16", RK_STR, S(keep_fp16), "-", "", 0, 0, NULL,
     "comma list of tensor-name globs kept fp16 on top of Graphcore's policy (e.g. lm_head.weight)"},
    {"placement", RK_CHOICE, F(placement), 0, "-", "stream", 0, 0, "stream|resident|auto",
     "stream: weights in streaming memory, loaded layer by layer; resident: in tile SRAM; auto: resident if it fits"},
    {"overlap", RK_ONOFF, F(overlap), 0, "-", "off", 0, 0, NULL,
     "stream the next layer under this layer's compute (needs arch.stream.io_tiles > 0)"},
    {"kv_cache", RK_ONOFF, F(kv_cache), 0, "-", "on", 0, 0, NULL,
     "on: a decode step runs one new token per sequence against the cache; off: Graphcore's scheme, every step re-runs the padded sequence"},
    {"kv_format", RK_STR, S(kv_format), "-", "fp16", 0, 0, NULL,
     "KV cache format: fp16, i8 (one absmax scale per key or value row) or q4g:N (scale and bias per N dims, N a "
     "multiple of 8 dividing head_dim); quantized when written, widened for attention (sim/base/kv_quant.h); needs "
     "kv_cache = on"},
    {"decompress", RK_STR, S(decompress), "-", "", 0, 0, NULL,
     "decompress codelet variant (ipusim codelet list); empty = the registry's default"},
    {"scheme", RK_CHOICE, F(scheme), 0, "-", "ipusim", 0, 0, "ipusim|graphcore",
     "int4 weight pipeline: ipusim = packed blocks in the matmul's layout, one decompress codelet; graphcore = "
     "Graphcore's popxl pipeline (load layout, unpack, broadcast multiply and add, rearrangement); Graphcore's runs "
     "also had kv_cache = off, placement = stream, overlap = off, partials = fp16 (scenarios/graphcore-mnli.conf)"},
    {"gc_unpack", RK_CHOICE, F(gc_unpack), 0, "-", "isa", 0, 0, "isa|estimate",
     "scheme = graphcore: the unpack vertex's cycles from the ISA model (isa), or the what-if that it costs its popxl "
     "perf estimate, 100 + 30 x the tile interval's words per vertex (estimate, a placeholder in Graphcore's code)"},
    {"fp8_amp", RK_CHOICE, F(fp8_amp), 0, "-", "auto", 0, 0, "auto|direct|widen",
     "fp8 weights: auto = into the AMP as they are when the arch has an fp8 mode (arch.amp_macs_per_cycle_fp8 > 0, "
     "e.g. arch = c600), else widened to fp16 on the tiles; direct = into the AMP (an error without one); widen"},
    {"partials", RK_CHOICE, F(partials), 0, "-", "fp16", 0, 0, "fp16|fp32", "matmul partial sums"},
    {"functional", RK_CHOICE, F(functional), 0, "-", "fast", 0, 0, "fast|timed",
     "functional runs: fast = codelets with a native version run natively (same bits, cycles from their measured shape); timed = every codelet through the timed intrinsics"},
    {"check_liveness", RK_ONOFF, F(check_liveness), 0, "-", "off", 0, 0, NULL,
     "functional runs: fill each tensor's bytes with NaN when its value dies, so a read of memory the layout gave "
     "to another tensor shows in the logits (a check of the lowering; compute sets run one by one)"},
    {"memory_proportion", RK_F64, F(memory_proportion), 0, "fraction", "0.6", 0, 1, NULL,
     "share of a tile's memory left by always-live tensors that one linear layer's temporaries may plan for "
     "(Poplar's availableMemoryProportion, default 0.6); halved up to 3 times when the layout does not fit"},
    {"batch", RK_U32, F(batch), 0, "sequences", "1", 1, 1u << 16, NULL, "sequences per step (micro-batch)"},
    {"prompt_len", RK_U32, F(prompt_len), 0, "tokens", "512", 1, 1u << 20, NULL,
     "tokens per prompt (with a prompt text: its token count)"},
    {"gen_tokens", RK_U32, F(gen_tokens), 0, "tokens", "20", 1, 1u << 20, NULL,
     "tokens generated per sequence, the first by the prefill"},
    {"seq_len", RK_U32, F(seq_len), 0, "tokens", "0", 0, 1u << 20, NULL,
     "padded sequence length; 0 = prompt_len + gen_tokens"},
    {"prompt", RK_STR, S(prompt), "-", "", 0, 0, NULL,
     "prompt text for functional runs (GPT-2 BPE); empty = a deterministic id sequence"},
    {"out", RK_STR, S(out), "-", "out", 0, 0, NULL, "folder for report files (JSON, CSV, plots) of ipusim compare"},
};
#define NKEYS (sizeof keys / sizeof keys[0])

static void *kfield(RunConfig *rc, const RunKey *k) { return (char *)rc + k->offset; }
static const void *ckfield(const RunConfig *rc, const RunKey *k) { return (const char *)rc + k->offset; }

const char *runcfg_placement_name(Placement p)
{
    return p == PLACE_STREAM ? "stream" : p == PLACE_RESIDENT ? "resident" : "auto";
}

/* Index of value in a '|'-separated list, or -1. */
static int choice_index(const char *choices, const char *value)
{
    size_t vl = strlen(value);
    int i = 0;
    for (const char *c = choices;; i++) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (len == vl && !strncmp(c, value, len))
            return i;
        if (!bar)
            return -1;
        c = bar + 1;
    }
}

static int parse_u64(const char *s, uint64_t *v)
{
    if (!*s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    unsigned long long x = strtoull(s, &end, 10);
    if (*end || errno == ERANGE)
        return -1;
    *v = x;
    return 0;
}

/* Checks a formats list: each entry a weight format the tiles hold (not
 * f32; q4g grouped along the input axis), N a multiple of 4. */
static int check_formats(const char *list, QuantSpec *specs, int *n, IpuErr *err)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        QuantSpec s;
        if (quant_spec_parse(tok, &s, err))
            return -1;
        if (s.fmt == &quant_format_f32)
            return ipu_err(err, "format '%s': the simulated tiles hold fp16 or quantized weights, not f32", tok);
        if (s.fmt == &quant_format_q4g && (s.group < 4 || s.group % 4))
            return ipu_err(err, "format '%s': group size %u is not a multiple of 4", tok, s.group);
        if (*n >= RUNCFG_MAX_FORMATS)
            return ipu_err(err, "more than %d formats", RUNCFG_MAX_FORMATS);
        specs[(*n)++] = s;
    }
    if (*n == 0)
        return ipu_err(err, "no format given (e.g. fp16,q4g:64)");
    return 0;
}

static int set_key(RunConfig *rc, const RunKey *k, const char *value, IpuErr *err)
{
    switch (k->type) {
    case RK_STR:
        if (strlen(value) >= k->size)
            return ipu_err(err, "value longer than %zu bytes", k->size - 1);
        snprintf((char *)kfield(rc, k), k->size, "%s", value);
        return 0;
    case RK_U32: {
        uint64_t v;
        if (parse_u64(value, &v))
            return ipu_err(err, "'%s' is not a non-negative integer (%s)", value, k->unit);
        if (v < k->min || v > k->max)
            return ipu_err(err, "value %s out of range [%g, %g] %s", value, k->min, k->max, k->unit);
        *(uint32_t *)kfield(rc, k) = (uint32_t)v;
        return 0;
    }
    case RK_U64: {
        uint64_t v;
        if (parse_u64(value, &v))
            return ipu_err(err, "'%s' is not a non-negative integer", value);
        *(uint64_t *)kfield(rc, k) = v;
        return 0;
    }
    case RK_F64: {
        char *end = NULL;
        double v = strtod(value, &end);
        if (!value[0] || *end || strpbrk(value, "xXnN") || !isfinite(v))
            return ipu_err(err, "'%s' is not a decimal number (%s)", value, k->unit);
        if (!(v > k->min && v <= k->max))
            return ipu_err(err, "value %s out of range (%g, %g] %s", value, k->min, k->max, k->unit);
        *(double *)kfield(rc, k) = v;
        return 0;
    }
    case RK_ONOFF:
        if (!strcmp(value, "on") || !strcmp(value, "1") || !strcmp(value, "true"))
            *(int *)kfield(rc, k) = 1;
        else if (!strcmp(value, "off") || !strcmp(value, "0") || !strcmp(value, "false"))
            *(int *)kfield(rc, k) = 0;
        else
            return ipu_err(err, "'%s' is not on or off", value);
        return 0;
    case RK_CHOICE: {
        int i = choice_index(k->choices, value);
        if (i < 0)
            return ipu_err(err, "'%s' is not one of %s", value, k->choices);
        *(int *)kfield(rc, k) = i;
        return 0;
    }
    }
    IPU_ASSERT(0);
    return -1;
}

/* kv_format text: fp16 | i8 | q4g:N (N a multiple of 8 in 8..4096). */
static int parse_kv(const char *text, KvSpec *out, IpuErr *err)
{
    uint64_t g;
    if (!strcmp(text, "fp16") || !strcmp(text, "f16"))
        *out = (KvSpec){KV_F16, 0};
    else if (!strcmp(text, "i8"))
        *out = (KvSpec){KV_I8, 0};
    else if (!strncmp(text, "q4g:", 4) && !parse_u64(text + 4, &g) && g >= 8 && g <= 4096 && g % 8 == 0)
        *out = (KvSpec){KV_Q4G, (uint32_t)g};
    else
        return ipu_err(err, "'%s' is not fp16, i8 or q4g:N (N a multiple of 8, 8..4096)", text);
    return 0;
}

/* Checks that need nothing but the one value. */
static int check_value(const RunConfig *rc, const char *key, IpuErr *err)
{
    if (!strcmp(key, "kv_format")) {
        KvSpec kv;
        return parse_kv(rc->kv_format, &kv, err);
    }
    if (!strcmp(key, "formats")) {
        QuantSpec specs[RUNCFG_MAX_FORMATS];
        int n;
        return check_formats(rc->formats, specs, &n, err);
    }
    if (!strcmp(key, "arch")) {
        IpuArch a;
        return arch_preset(rc->arch_name, &a, err);
    }
    if (!strcmp(key, "decompress") && rc->decompress[0]) {
        const CodeletFamily *f = codelet_family_find("decompress", err);
        return f && codelet_variant_find(f, rc->decompress, err) ? 0 : -1;
    }
    if (!strcmp(key, "keep_fp16") && rc->keep_fp16[0]) {
        /* The globs go in front of Graphcore's policy, as runcfg_options
         * does, so a list too long for the rule table fails here, not at run time. */
        QuantPolicy p;
        QuantSpec q4;
        IPU_ASSERT(quant_spec_parse("q4g:64", &q4, err) == 0);
        quant_policy_graphcore(&p, &q4);
        int base = p.nrules, n = 0;
        char buf[512];
        snprintf(buf, sizeof buf, "%s", rc->keep_fp16);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
            n++;
        if (base + n > QUANT_POLICY_MAX_RULES)
            return ipu_err(err, "%d patterns, at most %d (a policy holds %d rules, %d of them Graphcore's)", n,
                           QUANT_POLICY_MAX_RULES - base, QUANT_POLICY_MAX_RULES, base);
        snprintf(buf, sizeof buf, "%s", rc->keep_fp16);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char rule[QUANT_PATTERN_BYTES + 8];
            if (strlen(tok) >= QUANT_PATTERN_BYTES)
                return ipu_err(err, "pattern '%s' longer than %d bytes", tok, QUANT_PATTERN_BYTES - 1);
            snprintf(rule, sizeof rule, "%s=f16", tok);
            if (quant_policy_prepend(&p, rule, err))
                return -1;
        }
    }
    return 0;
}

void runcfg_init(RunConfig *rc)
{
    memset(rc, 0, sizeof *rc);
    IpuErr err;
    for (size_t i = 0; i < NKEYS; i++)
        IPU_ASSERT(set_key(rc, &keys[i], keys[i].def, &err) == 0);
}

int runcfg_arch_set(IpuArch *a, const char *key, const char *value, IpuErr *err)
{
    /* arch_set reads numbers with strtod, which also takes hex (0x10),
     * leading blanks, inf and nan: only plain decimals (or a bool word) pass. */
    int word = value[0] != '\0';
    for (const char *p = value; *p; p++)
        word &= (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z');
    if (!word && !cli_is_decimal(value))
        return ipu_err(err, "arch key '%s': '%s' is not a decimal number", key, value);
    return arch_set(a, key, value, err);
}

static int is_arch_key(const char *key)
{
    IpuArch a;
    IpuErr err;
    IPU_ASSERT(arch_preset("gc200", &a, &err) == 0);
    for (size_t i = 0; i < arch_key_count(); i++) {
        ArchKeyInfo k;
        arch_key_at(&a, i, &k);
        if (!strcmp(k.name, key))
            return 1;
    }
    return 0;
}

static int is_arch_file(const char *source) { return !strncmp(source, "arch file ", 10); }

/* An arch file and another source naming different presets (see runcfg.h). */
static int arch_conflict(const RunConfig *rc, const char *value, const char *source, IpuErr *err)
{
    const RunArchPreset *other = &rc->arch_from[!is_arch_file(source)];
    if (!other->preset[0] || !strcmp(other->preset, value))
        return 0;
    return ipu_err(err, "%s names arch preset '%s' but %s names '%s': give one of them, or the same", source, value,
                   other->source, other->preset);
}

int runcfg_set(RunConfig *rc, const char *key, const char *value, const char *source, IpuErr *err)
{
    if (!strncmp(key, "arch.", 5)) {
        /* checked now against a scratch arch so the error names its source;
         * applied in runcfg_finish after the preset, whenever that is set */
        IpuArch a;
        IPU_ASSERT(arch_preset("gc200", &a, err) == 0);
        if (runcfg_arch_set(&a, key + 5, value, err))
            return ipu_err_prefix(err, "%s", source);
        if (rc->narch_sets >= RUNCFG_MAX_ARCH_SETS)
            return ipu_err(err, "%s: key '%s': more than %d arch settings", source, key, RUNCFG_MAX_ARCH_SETS);
        RunArchSet *s = &rc->arch_sets[rc->narch_sets];
        if (strlen(key + 5) >= sizeof s->key || strlen(value) >= sizeof s->value)
            return ipu_err(err, "%s: key '%s': key or value too long", source, key);
        snprintf(s->key, sizeof s->key, "%s", key + 5);
        snprintf(s->value, sizeof s->value, "%s", value);
        snprintf(s->source, sizeof s->source, "%s", source);
        rc->narch_sets++;
        return 0;
    }
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(keys[i].name, key))
            continue;
        if (!strcmp(key, "arch") && arch_conflict(rc, value, source, err))
            return -1;
        RunConfig saved = *rc;
        if (set_key(rc, &keys[i], value, err) || check_value(rc, key, err)) {
            *rc = saved;
            return ipu_err_prefix(err, "%s: key '%s'", source, key);
        }
        if (!strcmp(key, "model"))
            snprintf(rc->model_source, sizeof rc->model_source, "%s", source);
        if (!strcmp(key, "arch")) {
            RunArchPreset *mine = &rc->arch_from[is_arch_file(source)];
            snprintf(mine->preset, sizeof mine->preset, "%s", value);
            snprintf(mine->source, sizeof mine->source, "%s", source);
        }
        return 0;
    }
    if (is_arch_key(key)) { /* one spelling everywhere: an arch key without its prefix */
        char full[160];
        snprintf(full, sizeof full, "arch.%s", key);
        return runcfg_set(rc, full, value, source, err);
    }
    return ipu_err(err, "%s: unknown key '%s' (ipusim run --list-keys lists the run keys, ipusim arch show PRESET "
                        "the arch keys, with or without 'arch.')",
                   source, key);
}

typedef struct ArchFileCtx {
    RunConfig *rc;
    const char *source; /* "arch file PATH" */
} ArchFileCtx;

/* "preset" is key arch, any other key arch.<key>; errors name the source. */
static int load_arch_entry(void *ctx, const char *key, const char *value, IpuErr *err)
{
    const ArchFileCtx *c = ctx;
    char full[160];
    snprintf(full, sizeof full, "arch%s%s", strcmp(key, "preset") ? "." : "", strcmp(key, "preset") ? key : "");
    return runcfg_set(c->rc, full, value, c->source, err);
}

int runcfg_load_arch_file(RunConfig *rc, const char *path, IpuErr *err)
{
    char source[160];
    snprintf(source, sizeof source, "arch file %.140s", path);
    ArchFileCtx c = {rc, source};
    return arch_file_each(path, load_arch_entry, &c, err);
}

int runcfg_set_kv(RunConfig *rc, const char *kv, const char *source, IpuErr *err)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return ipu_err(err, "%s: '%s': expected key=value", source, kv);
    char key[128];
    if ((size_t)(eq - kv) >= sizeof key)
        return ipu_err(err, "%s: key too long in '%s'", source, kv);
    snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
    return runcfg_set(rc, key, eq + 1, source, err);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* The longest scenario line: room for the longest value runcfg_print writes
 * (every byte of a text key escaped as \xHH, in quotes), and the largest file. */
#define RUNCFG_LINE_BYTES (4 * RUNCFG_TEXT_BYTES + 256)
#define RUNCFG_FILE_MAX_BYTES FILEIO_CONFIG_MAX_BYTES

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A quoted value "..." at s (s[0] == '"') into out (cap bytes): escapes \" \\
 * \n \t \r \xHH (not \x00). *rest gets what follows the closing quote. */
static int unquote(const char *s, char *out, size_t cap, const char **rest, IpuErr *err)
{
    size_t n = 0;
    for (const char *p = s + 1;; p++) {
        char c = *p;
        if (c == '\0')
            return ipu_err(err, "value %s: no closing quote", s);
        if (c == '"') {
            out[n] = '\0';
            *rest = p + 1;
            return 0;
        }
        if (c == '\\') {
            p++;
            switch (*p) {
            case '"': case '\\': c = *p; break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'x': {
                int hi = hex_digit(p[1]), lo = hi < 0 ? -1 : hex_digit(p[2]);
                if (lo < 0 || (hi == 0 && lo == 0))
                    return ipu_err(err, "value %s: \\x needs two hex digits, not 00", s);
                c = (char)(hi * 16 + lo);
                p += 2;
                break;
            }
            default:
                return ipu_err(err, "value %s: unknown escape '\\%c' (\\\" \\\\ \\n \\t \\r \\xHH)", s, *p ? *p : '0');
            }
        }
        if (n + 1 >= cap)
            return ipu_err(err, "quoted value longer than %zu bytes", cap - 1);
        out[n++] = c;
    }
}

/* One scenario line (NUL-terminated, no newline): 0 and *key NULL for a
 * blank or comment line; else key and value point into line / value_buf. */
static int parse_line(char *line, char **key, char **value, char *value_buf, size_t cap, IpuErr *err)
{
    *key = NULL;
    char *eq = NULL;
    for (char *p = line; *p && !eq; p++) {
        if (*p == '#' && (p == line || isspace((unsigned char)p[-1]))) {
            *p = '\0';
            break;
        }
        if (*p == '=')
            eq = p;
    }
    char *s = trim(line);
    if (!*s)
        return 0;
    if (!eq)
        return ipu_err(err, "expected 'key = value', got '%s'", s);
    *eq = '\0';
    *key = trim(s);
    if (!**key)
        return ipu_err(err, "missing key before '='");
    char *v = eq + 1;
    while (isspace((unsigned char)*v))
        v++;
    if (*v == '"') {
        const char *rest = NULL;
        if (unquote(v, value_buf, cap, &rest, err))
            return -1;
        while (isspace((unsigned char)*rest))
            rest++;
        if (*rest && *rest != '#')
            return ipu_err(err, "text after the closing quote: '%s'", rest);
        *value = value_buf;
        return 0;
    }
    for (char *p = v; *p; p++) /* an unquoted value ends at a comment */
        if (*p == '#' && p > v && isspace((unsigned char)p[-1])) {
            *p = '\0';
            break;
        }
    *value = trim(v);
    return 0;
}

int runcfg_load_file(RunConfig *rc, const char *path, IpuErr *err)
{
    char *text;
    size_t len;
    if (fileio_read(path, "scenario", RUNCFG_FILE_MAX_BYTES, &text, &len, err))
        return -1;
    int lineno = 0, rv = 0;
    for (size_t pos = 0; pos < len && !rv;) {
        lineno++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len, n = end - pos;
        const char *nul = memchr(text + pos, '\0', n);
        char line[RUNCFG_LINE_BYTES], value_buf[RUNCFG_TEXT_BYTES], source[160], *key = NULL, *value = NULL;
        if (nul)
            rv = ipu_err(err, "scenario %s:%d: NUL byte at column %zu", path, lineno, (size_t)(nul - (text + pos)) + 1);
        else if (n >= sizeof line)
            rv = ipu_err(err, "scenario %s:%d: line longer than %zu bytes", path, lineno, sizeof line - 1);
        if (rv)
            break;
        memcpy(line, text + pos, n);
        line[n] = '\0';
        pos = end + 1;
        if (parse_line(line, &key, &value, value_buf, sizeof value_buf, err)) {
            rv = ipu_err_prefix(err, "scenario %s:%d", path, lineno);
            break;
        }
        if (!key)
            continue;
        snprintf(source, sizeof source, "scenario %.120s:%d", path, lineno);
        rv = runcfg_set(rc, key, value, source, err);
    }
    free(text);
    return rv;
}

/* The model (see runcfg_finish in runcfg.h). */
static int resolve_model(RunConfig *rc, IpuErr *err)
{
    GptjConfig ck;
    char d[96];
    if (rc->checkpoint[0] && gptj_config_resolve(&ck, rc->checkpoint, err))
        return ipu_err_prefix(err, "key 'checkpoint' (its config.json defines the model)");
    if (rc->checkpoint[0] && !rc->model_source[0]) {
        rc->cfg = ck;
        snprintf(rc->model, sizeof rc->model, "%s", rc->checkpoint); /* so the echo names it */
        return 0;
    }
    if (gptj_config_resolve(&rc->cfg, rc->model, err))
        return ipu_err_prefix(err, "key 'model'");
    if (rc->checkpoint[0] && gptj_config_diff(&rc->cfg, &ck, d, sizeof d))
        return ipu_err(err, "key 'model' = %s (%s) and key 'checkpoint' = %s (its config.json) are different models, "
                            "%s: give only the checkpoint, or a model of its shape",
                       rc->model, rc->model_source, rc->checkpoint, d);
    return 0;
}

int runcfg_finish(RunConfig *rc, IpuErr *err)
{
    if (resolve_model(rc, err))
        return -1;
    if (arch_preset(rc->arch_name, &rc->arch, err))
        return ipu_err_prefix(err, "key 'arch'");
    for (int i = 0; i < rc->narch_sets; i++)
        if (runcfg_arch_set(&rc->arch, rc->arch_sets[i].key, rc->arch_sets[i].value, err))
            return ipu_err_prefix(err, "%s", rc->arch_sets[i].source);
    if (arch_validate(&rc->arch, err))
        return ipu_err_prefix(err, "arch '%s' with its arch.* settings", rc->arch_name);
    if (check_formats(rc->formats, rc->specs, &rc->nformats, err))
        return ipu_err_prefix(err, "key 'formats'");
    KvSpec kv;
    if (parse_kv(rc->kv_format, &kv, err))
        return ipu_err_prefix(err, "key 'kv_format'");
    if (kv.fmt != KV_F16 && !rc->kv_cache)
        return ipu_err(err, "key 'kv_format': %s needs kv_cache = on", rc->kv_format);
    if (kv.fmt == KV_Q4G && rc->cfg.head_dim % (int)kv.group)
        return ipu_err(err, "key 'kv_format': q4g group %u does not divide head_dim %d of %s", kv.group,
                       rc->cfg.head_dim, rc->model);
    for (int i = 0; i < rc->nformats && rc->fp8_amp == 1 && !rc->arch.amp_macs_per_cycle_fp8; i++)
        if (rc->specs[i].fmt == &quant_format_fp8e4m3 || rc->specs[i].fmt == &quant_format_fp8e5m2)
            return ipu_err(err, "key 'fp8_amp': direct needs an fp8 AMP, arch '%s' has none (amp_macs_per_cycle_fp8 = "
                                "0; arch = c600 has one)",
                           rc->arch_name);
    for (int i = 0; i < rc->nformats && rc->scheme == SCHEME_GRAPHCORE; i++) /* Graphcore's pipeline is int4 q4g */
        if (rc->specs[i].fmt != &quant_format_f16 && rc->specs[i].fmt != &quant_format_q4g) {
            char t[64];
            quant_spec_format(&rc->specs[i], t, sizeof t);
            return ipu_err(err, "key 'scheme': graphcore runs fp16 and q4g only; format '%s' needs scheme = ipusim", t);
        }
    rc->chips_used = rc->chips ? rc->chips : rc->arch.chips;
    if (rc->chips_used > rc->arch.chips)
        return ipu_err(err, "key 'chips': %u chips asked, arch '%s' has %u", rc->chips, rc->arch_name, rc->arch.chips);
    if (rc->cfg.n_head % (int)rc->chips_used)
        return ipu_err(err, "key 'chips': %u chips do not divide the %d heads of %s", rc->chips_used, rc->cfg.n_head,
                       rc->model);
    rc->seq_len_used = rc->seq_len ? rc->seq_len : rc->prompt_len + rc->gen_tokens;
    if (rc->prompt_len > rc->seq_len_used)
        return ipu_err(err, "key 'prompt_len': %u tokens do not fit seq_len %u", rc->prompt_len, rc->seq_len_used);
    if (rc->seq_len && rc->prompt_len + rc->gen_tokens - 1 > rc->seq_len)
        return ipu_err(err, "key 'gen_tokens': prompt_len %u + %u generated tokens need seq_len >= %u, it is %u",
                       rc->prompt_len, rc->gen_tokens, rc->prompt_len + rc->gen_tokens - 1, rc->seq_len);
    if (rc->seq_len_used > (uint32_t)rc->cfg.n_positions)
        return ipu_err(err, "key 'seq_len': %u tokens exceed the context of %s (%d)", rc->seq_len_used, rc->model,
                       rc->cfg.n_positions);
    if (rc->overlap && rc->arch.io_tiles == 0)
        return ipu_err(err, "key 'overlap': on needs I/O tiles (set arch.stream.io_tiles, e.g. 64)");
    if (rc->weights == RUN_WEIGHTS_CHECKPOINT && !rc->checkpoint[0])
        return ipu_err(err, "key 'weights': checkpoint needs key 'checkpoint' (a Hugging Face folder)");
    return 0;
}

int runcfg_options(const RunConfig *rc, int i, RunOptions *o, IpuErr *err)
{
    IPU_ASSERT(i >= 0 && i < rc->nformats);
    memset(o, 0, sizeof *o);
    o->cfg = rc->cfg;
    o->weights = rc->specs[i];
    quant_policy_graphcore(&o->policy, &o->weights);
    if (rc->keep_fp16[0]) {
        char buf[512];
        snprintf(buf, sizeof buf, "%s", rc->keep_fp16);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char rule[QUANT_PATTERN_BYTES + 8];
            snprintf(rule, sizeof rule, "%s=f16", tok);
            if (quant_policy_prepend(&o->policy, rule, err))
                return ipu_err_prefix(err, "key 'keep_fp16'");
        }
    }
    o->placement = rc->placement;
    o->overlap = rc->overlap;
    o->kv_cache = rc->kv_cache;
    IPU_ASSERT(parse_kv(rc->kv_format, &o->kv, err) == 0); /* runcfg_finish checked it */
    snprintf(o->decompress, sizeof o->decompress, "%s", rc->decompress);
    o->scheme = rc->scheme;
    o->gc_unpack_estimate = rc->gc_unpack == 1;
    o->fp8_amp = rc->fp8_amp;
    o->partials = rc->partials == 0 ? LAYER_F16 : LAYER_F32;
    o->functional_timed = rc->functional == 1;
    o->check_liveness = rc->check_liveness;
    o->memory_proportion = rc->memory_proportion;
    o->chips = rc->chips_used;
    o->batch = rc->batch;
    o->prompt_len = rc->prompt_len;
    o->gen_tokens = rc->gen_tokens;
    o->seq_len = rc->seq_len;
    return 0;
}

size_t runcfg_key_count(void) { return NKEYS; }

static const char *type_name(const RunKey *k)
{
    switch (k->type) {
    case RK_STR: return "text";
    case RK_U32: case RK_U64: return "int";
    case RK_F64: return "number";
    case RK_ONOFF: return "on|off";
    case RK_CHOICE: return k->choices;
    }
    return "?";
}

void runcfg_key_at(size_t i, RunKeyInfo *out)
{
    IPU_ASSERT(i < NKEYS);
    const RunKey *k = &keys[i];
    *out = (RunKeyInfo){k->name, type_name(k), k->unit, k->def, k->doc};
}

void runcfg_key_value(const RunConfig *rc, size_t i, char *buf, size_t cap)
{
    IPU_ASSERT(i < NKEYS);
    const RunKey *k = &keys[i];
    switch (k->type) {
    case RK_STR: snprintf(buf, cap, "%s", (const char *)ckfield(rc, k)); return;
    case RK_U32: snprintf(buf, cap, "%u", *(const uint32_t *)ckfield(rc, k)); return;
    case RK_U64: snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)ckfield(rc, k)); return;
    case RK_F64: { /* the shortest text that reads back to the same double */
        double v = *(const double *)ckfield(rc, k);
        for (int digits = 15; digits <= 17; digits++) {
            snprintf(buf, cap, "%.*g", digits, v);
            if (strtod(buf, NULL) == v)
                break;
        }
        return;
    }
    case RK_ONOFF: snprintf(buf, cap, "%s", *(const int *)ckfield(rc, k) ? "on" : "off"); return;
    case RK_CHOICE: {
        int idx = *(const int *)ckfield(rc, k);
        const char *c = k->choices;
        for (int j = 0; j < idx; j++)
            c = strchr(c, '|') + 1;
        const char *bar = strchr(c, '|');
        snprintf(buf, cap, "%.*s", bar ? (int)(bar - c) : (int)strlen(c), c);
        return;
    }
    }
}

void runcfg_print_keys(FILE *f)
{
    fprintf(f, "| key | type | unit | default | meaning |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < NKEYS; i++) {
        char type[64]; /* '|' would split a markdown cell */
        snprintf(type, sizeof type, "%s", type_name(&keys[i]));
        for (char *c = type; *c; c++)
            if (*c == '|')
                *c = '/';
        fprintf(f, "| %s | %s | %s | %s | %s |\n", keys[i].name, type, keys[i].unit,
                keys[i].def[0] ? keys[i].def : "(empty)", keys[i].doc);
    }
    fprintf(f, "| arch.<key> | (arch) | (arch) | (preset) | any arch key (ipusim arch show PRESET), applied after the preset |\n");
}

cJSON *runcfg_to_json(const RunConfig *rc)
{
    cJSON *root = cJSON_CreateObject(), *run = cJSON_AddObjectToObject(root, "run");
    char buf[RUNCFG_TEXT_BYTES];
    for (size_t i = 0; i < NKEYS; i++) {
        runcfg_key_value(rc, i, buf, sizeof buf);
        if (keys[i].type == RK_U32 || keys[i].type == RK_U64 || keys[i].type == RK_F64)
            cJSON_AddNumberToObject(run, keys[i].name, strtod(buf, NULL));
        else
            cJSON_AddStringToObject(run, keys[i].name, buf);
    }
    cJSON_AddNumberToObject(run, "chips_used", rc->chips_used);
    cJSON_AddNumberToObject(run, "seq_len_used", rc->seq_len_used);
    cJSON *arch = cJSON_AddObjectToObject(root, "arch");
    cJSON_AddStringToObject(arch, "preset", rc->arch.name);
    for (size_t i = 0; i < arch_key_count(); i++) {
        ArchKeyInfo k;
        arch_key_at(&rc->arch, i, &k);
        if (!strcmp(k.type, "bool"))
            cJSON_AddBoolToObject(arch, k.name, !strcmp(k.value, "true"));
        else
            cJSON_AddNumberToObject(arch, k.name, strtod(k.value, NULL));
    }
    return root;
}

/* A value that would not read back as itself unquoted (see runcfg.h). */
static int needs_quotes(const char *v)
{
    size_t n = strlen(v);
    if (n && (isspace((unsigned char)v[0]) || isspace((unsigned char)v[n - 1])))
        return 1;
    if (v[0] == '"')
        return 1;
    for (const char *p = v; *p; p++)
        if (*p == '#' || (unsigned char)*p < 0x20 || *p == 0x7f)
            return 1;
    return 0;
}

void runcfg_print_value(FILE *f, const char *v)
{
    if (!needs_quotes(v)) {
        fputs(v, f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p == '\r')
            fputs("\\r", f);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

void runcfg_print(FILE *f, const RunConfig *rc)
{
    char buf[RUNCFG_TEXT_BYTES];
    for (size_t i = 0; i < NKEYS; i++) {
        runcfg_key_value(rc, i, buf, sizeof buf);
        fprintf(f, "%s = ", keys[i].name);
        runcfg_print_value(f, buf);
        fputc('\n', f);
    }
    for (int i = 0; i < rc->narch_sets; i++) {
        fprintf(f, "arch.%s = ", rc->arch_sets[i].key);
        runcfg_print_value(f, rc->arch_sets[i].value);
        fputc('\n', f);
    }
}
