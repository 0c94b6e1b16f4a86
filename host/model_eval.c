/* model_eval.c - `model eval`'s tokens, formats, windows and results (see model_eval.h). */
#include "host/model_eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/fileio.h"
#include "host/cli.h"
#include "host/eval_sim.h"
#include "host/progress.h"
#include "models/bpe.h"
#include "models/token_ids.h"

/* The largest --text file. */
#define MODEL_EVAL_TEXT_MAX_BYTES (64u << 20)
/* Synthetic ids when neither ids nor a text is given. */
#define MODEL_EVAL_SYNTH_TOKENS 64

void model_eval_free(ModelEval *m)
{
    free(m->tok);
    m->tok = NULL;
}

/* Ids "464,3290,318" (models/token_ids.h) into m->tok. */
static int parse_ids(ModelEval *m, const char *s, IpuErr *e)
{
    uint32_t *ids = NULL;
    size_t n = 0;
    if (token_ids_parse(s, "--tokens", 0, NULL, &ids, &n, e))
        return -1;
    if (!(m->tok = malloc(n * sizeof *m->tok))) {
        free(ids);
        return ipu_err(e, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        m->tok[i] = (int)ids[i];
    m->T = (int)n;
    free(ids);
    return 0;
}

static int text_ids(ModelEval *m, const char *path, const char *vocab, IpuErr *e)
{
    char dir[BPE_PATH_BYTES], *text;
    size_t len;
    if (fileio_read(path, "--text", MODEL_EVAL_TEXT_MAX_BYTES, &text, &len, e))
        return -1;
    Bpe *b = NULL;
    BpeIds ids = {0};
    int bad = bpe_find_vocab(vocab, dir, sizeof dir, e) < 0 || !(b = bpe_create(dir, e)) ||
              bpe_encode(b, text, len, 0, &ids, e) < 0;
    free(text);
    bpe_destroy(b);
    if (!bad && !(m->tok = malloc((ids.n ? ids.n : 1) * sizeof *m->tok)))
        bad = ipu_err(e, "out of memory");
    for (size_t i = 0; !bad && i < ids.n && m->T < MODEL_EVAL_MAX_TOKENS; i++)
        m->tok[m->T++] = ids.ids[i];
    bpe_ids_free(&ids);
    return bad ? -1 : 0;
}

int model_eval_tokens(ModelEval *m, const char *ids, const char *text, const char *vocab, uint64_t max_tokens,
                      IpuErr *e)
{
    int V = m->cfg.vocab_size;
    m->T = 0;
    if (ids && text)
        return ipu_err(e, "give --tokens or --text, not both"), 2;
    if (ids && parse_ids(m, ids, e))
        return 2;
    if (ids && m->T < 2) {
        ipu_err(e, "--tokens: give at least 2 ids, got %d", m->T);
        return 2;
    }
    if (text && text_ids(m, text, vocab, e))
        return 1;
    if (!ids && !text) {
        if (!(m->tok = malloc(MODEL_EVAL_SYNTH_TOKENS * sizeof *m->tok)))
            return ipu_err(e, "out of memory"), 1;
        for (m->T = 0; m->T < MODEL_EVAL_SYNTH_TOKENS; m->T++)
            m->tok[m->T] = (int)((m->seed * 2654435761u + (uint64_t)m->T * 40503u + 17u) % (uint64_t)V);
    }
    if (max_tokens && (uint64_t)m->T > max_tokens)
        m->T = (int)max_tokens;
    for (int i = 0; i < m->T; i++)
        if (m->tok[i] >= V)
            return ipu_err(e, "token %d at position %d is outside the vocabulary 0..%d of %s", m->tok[i], i, V - 1,
                           m->cfg.name), 1;
    if (m->T < 2) /* --max-tokens 1 is the user's; a text of one token is the input's */
        return ipu_err(e, "need at least 2 tokens to evaluate, got %d", m->T), max_tokens == 1 ? 2 : 1;
    return 0;
}

/* A grouped spec's group must divide the grouped axis of every tensor the
 * eval policy gives it (quant_tensor would fail there, after work). */
static int check_groups(const GptjConfig *c, const QuantSpec *s, const char *opt, IpuErr *e)
{
    QuantPolicy p;
    eval_policy(&p, s);
    for (int i = 0; i < gptj_tensor_count(c); i++) {
        GptjTensorInfo t;
        gptj_tensor_info(c, i, &t);
        const QuantSpec *q = quant_policy_lookup(&p, t.name);
        int64_t axis = q->axis == QUANT_AXIS_OUT ? t.shape[0] : t.shape[1];
        if (quant_spec_grouped(q) && t.ndim == 2 && axis % q->group != 0) {
            char text[64];
            quant_spec_format(s, text, sizeof text);
            return ipu_err(e, "%s %s does not divide the %s axis of '%s' (%lld) in %s", opt, text,
                           q->axis == QUANT_AXIS_OUT ? "output" : "input", t.name, (long long)axis, c->name);
        }
    }
    return 0;
}

int model_eval_formats(ModelEval *m, const char *list, const char *opt, IpuErr *e)
{
    char buf[512];
    if (snprintf(buf, sizeof buf, "%s", list) >= (int)sizeof buf)
        return ipu_err(e, "%s: the list is longer than %zu characters", opt, sizeof buf - 1), 2;
    QuantSpec f16 = {&quant_format_f16, QUANT_DEFAULT_GROUP, QUANT_AXIS_IN, 0, 0};
    m->nf = 1, m->specs[0] = f16, m->ref = 0; /* fp16 first unless the list names it */
    int has16 = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        QuantSpec s;
        if (quant_spec_parse(tok, &s, e))
            return ipu_err_prefix(e, "%s", opt), 2;
        if (s.fmt == &quant_format_f16 && !has16) {
            has16 = 1;
            continue;
        }
        if (m->nf == EVAL_MAX_FORMATS)
            return ipu_err(e, "%s: more than %d formats", opt, EVAL_MAX_FORMATS), 2;
        m->specs[m->nf++] = s;
    }
    for (int k = 0; k < m->nf; k++)
        if (check_groups(&m->cfg, &m->specs[k], opt, e))
            return 1;
    return 0;
}

/* The bytes the evaluation holds: see models/eval_layers.h. */
static double memory_bytes(const ModelEval *m, int window)
{
    const GptjConfig *c = &m->cfg;
    double C = c->n_embd, I = c->n_inner, V = c->vocab_size, W = window, R = EVAL_LAYERS_ROWS, nf = m->nf;
    double layer = 4 * C * C + 2 * C * I + 3 * C + I, wholes = 0;
    for (int f = 0; f < m->nf; f++) {
        QuantPolicy p;
        eval_policy(&p, &m->specs[f]);
        wholes += !quant_spec_row_local(quant_policy_lookup(&p, "lm_head.weight")) * V * C;
    }
    return 4 * (2 * layer + nf * W * (C + V) + W * (6 * C + I) + 2 * W * C + 2 * R * C + W * R + nf * V + wholes);
}

/* The progress line over every window's stages (the embedding, each layer, the LM head). */
typedef struct StageProgress {
    Progress pr;
    size_t base; /* stages of the windows before this one */
} StageProgress;

static void stage_progress(void *ctx, int done, int total)
{
    StageProgress *p = ctx;
    (void)total;
    progress_update(&p->pr, p->base + (size_t)done, 0);
}

/* The logit source: the host reference, layer by layer, or the simulated
 * machine; its progress hook called after each stage of a window. */
typedef struct Source {
    EvalLayers h;
    RunConfig base; /* on_sim without sim_base: the --set keys' */
    EvalSim sim;
    EvalSource src;
    size_t stages; /* per window */
} Source;

static int source_init(ModelEval *m, const GptjWeights *w, int window, Source *s, StageProgress *sp, IpuErr *e)
{
    if (m->on_sim) {
        char list[EVAL_ID_BYTES] = "";
        for (int f = 0; f < m->nf; f++) {
            size_t n = strlen(list);
            if (n)
                list[n++] = ',';
            quant_spec_format(&m->specs[f], list + n, sizeof list - n);
        }
        if (!m->sim_base && eval_sim_config(&s->base, m->model, m->checkpoint, m->seed, m->sets, m->nsets, e))
            return -1;
        if (eval_sim_init(&s->sim, m->sim_base ? m->sim_base : &s->base, list, window, w, e))
            return -1;
        s->sim.progress = stage_progress, s->sim.progress_ctx = sp;
        s->src = (EvalSource){eval_sim_logits, &s->sim};
        s->stages = (size_t)m->nf;
        return 0;
    }
    if (eval_layers_init(&s->h, w, m->specs, m->nf, window, e))
        return -1;
    s->h.progress = stage_progress, s->h.progress_ctx = sp;
    s->src = (EvalSource){eval_layers_source, &s->h};
    s->stages = (size_t)m->cfg.n_layer + 2;
    return 0;
}

/* With on_sim, the run keys join the weights' name: a resume state of the
 * host reference, or of other keys, is another run's. Refused when they do
 * not fit: two runs differing past the end would share a state. */
static int name_source(ModelEval *m, IpuErr *e)
{
    snprintf(m->source, sizeof m->source, "%s", m->on_sim ? "the simulated machine, functional" : "host reference, fp32");
    for (int i = -1; m->on_sim && i < m->nsets; i++) {
        size_t n = strlen(m->weights_id);
        if (snprintf(m->weights_id + n, sizeof m->weights_id - n, "%s", i < 0 ? "; on-sim" : " ") >=
                (int)(sizeof m->weights_id - n) ||
            (i >= 0 && strlen(m->weights_id) + strlen(m->sets[i]) >= sizeof m->weights_id))
            return ipu_err(e, "--set: the run keys are longer than the %zu bytes a resume state names them in",
                           sizeof m->weights_id - 1);
        if (i >= 0)
            strcat(m->weights_id, m->sets[i]);
    }
    return 0;
}

static int load_weights(ModelEval *m, GptjWeights *w, IpuErr *e)
{
    if (m->checkpoint) {
        snprintf(m->weights_id, sizeof m->weights_id, "checkpoint %s (%s)", m->checkpoint, m->cfg.name);
        if (gptj_weights_load_lazy(w, &m->cfg, m->checkpoint, GPTJ_F32, 0, e))
            return -1;
        for (int i = 0; i < w->n_warnings; i++)
            fprintf(stderr, "warning: %s\n", w->warnings[i]);
        return name_source(m, e);
    }
    snprintf(m->weights_id, sizeof m->weights_id, "%s synthetic seed %llu", m->cfg.name, (unsigned long long)m->seed);
    return name_source(m, e) ? -1 : gptj_weights_synth_lazy(w, &m->cfg, GPTJ_F32, m->seed, e);
}

/* The windows not yet run, saving the state after each; a progress line over their stages. */
static int run_windows(ModelEval *m, EvalText *t, const Source *s, StageProgress *sp, IpuErr *e)
{
    sp->base = (size_t)t->next * s->stages;
    progress_init(&sp->pr, stderr, "window stages", (size_t)t->nwindows * s->stages, sp->base, m->quiet);
    progress_update(&sp->pr, sp->base, 0);
    int rv = 0;
    while (!rv && t->next < t->nwindows) {
        sp->base = (size_t)t->next * s->stages;
        rv = eval_text_step(t, &s->src, e);
        if (!rv && m->resume)
            rv = eval_text_save(t, m->resume, e);
        m->ran_windows += !rv;
    }
    progress_finish(&sp->pr);
    return rv;
}

/* --resume: the saved state when the file exists, else a first one now, so
 * a state that cannot be written fails before any work. */
static int resume_state(const ModelEval *m, EvalText *t, IpuErr *e)
{
    return access(m->resume, F_OK) == 0 ? eval_text_load(t, m->resume, e) : eval_text_save(t, m->resume, e);
}

int model_eval_run(ModelEval *m, IpuErr *e)
{
    int window = m->window ? m->window : m->T;
    window = window < m->cfg.n_positions ? window : m->cfg.n_positions;
    window = window < m->T ? window : m->T;
    int stride = m->stride && m->stride < window ? m->stride : window; /* cut with the window (eval_text.h) */
    /* on the machine the runs check their own fit; the host still holds every format's window of logits */
    double need = m->on_sim ? 4.0 * m->nf * window * m->cfg.vocab_size : memory_bytes(m, window);
    double have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if (need > 0.8 * have)
        return ipu_err(e, "%s: a window of %d tokens under %d formats needs %.1f GB, more than 80%% of this "
                          "machine's %.1f GB (a smaller --window or fewer formats)",
                       m->cfg.name, window, m->nf, need / 1e9, have / 1e9);
    GptjWeights w = {0};
    Source s;
    memset(&s, 0, sizeof s);
    StageProgress sp;
    EvalText t = {0};
    int rv = load_weights(m, &w, e) ||
                     eval_text_init(&t, m->tok, m->T, window, stride, m->specs, m->nf, m->ref,
                                    m->cfg.vocab_size, m->weights_id, e) ||
                     (m->resume && resume_state(m, &t, e)) || source_init(m, &w, t.window, &s, &sp, e) ||
                     run_windows(m, &t, &s, &sp, e)
                 ? -1
                 : 0;
    if (!rv) {
        m->window = t.window, m->stride = t.stride, m->nwindows = t.nwindows;
        for (int f = 0; f < m->nf; f++) {
            QuantPolicy p;
            eval_text_result(&t, f, &m->res[f]);
            eval_policy(&p, &m->specs[f]);
            quant_model_bits(&m->cfg, &p, &m->bits[f]);
            if (m->ran_windows && !m->on_sim) /* the host reference measures the weights as it goes */
                eval_layers_weight_error(&s.h, f, &m->werr[f]);
            else
                m->werr[f] = (EvalWeightError){NAN, NAN, 0};
        }
        m->scored = (int)m->res[0].targets;
    }
    eval_text_free(&t);
    eval_layers_free(&s.h);
    eval_sim_free(&s.sim);
    gptj_weights_free(&w);
    return rv;
}

/* ---- output ---- */

void model_eval_print(FILE *f, const ModelEval *m)
{
    char ref[32];
    quant_spec_format(&m->specs[m->ref], ref, sizeof ref);
    fprintf(f, "model eval: %s, %s, %d tokens, window %d, stride %d: %d window%s, %d tokens scored; reference %s; "
               "logits: %s\n",
            m->cfg.name, m->weights_id, m->T, m->window, m->stride, m->nwindows, m->nwindows == 1 ? "" : "s",
            m->scored, ref, m->source);
    fprintf(f, "%-16s %9s %9s %12s %12s %12s %14s %10s %8s\n", "format", "bits/par", "model b/p", "perplexity",
            "mean KL", "top-1 agree", "max |dlogit|", "w RMSE", "w SQNR");
    for (int k = 0; k < m->nf; k++) {
        char name[32];
        quant_spec_format(&m->specs[k], name, sizeof name);
        const EvalResult *r = &m->res[k];
        fprintf(f, "%-16s %9.2f %9.2f %12.4g %12.3e %11.2f%% %14.3e %10.3e %8.2f\n", name,
                quant_model_bits_per_param(&m->bits[k]), quant_model_bits_per_param_all(&m->bits[k]), r->perplexity,
                r->mean_kl, 100 * r->top1_agree, r->max_logit_diff, m->werr[k].rmse, m->werr[k].sqnr_db);
    }
    fprintf(f, "bits/par: stored bits per parameter of the linear matrices (q/k/v/out_proj, fc_in, fc_out, lm_head); "
               "model b/p: of every tensor\n");
}

/* A JSON number, or null when not finite (JSON has no NaN or infinity). */
static void add_num(cJSON *o, const char *key, double v)
{
    cJSON_AddItemToObject(o, key, isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull());
}

int model_eval_print_json(const ModelEval *m)
{
    cJSON *j = cJSON_CreateObject(), *a = cJSON_CreateArray();
    char ref[32];
    quant_spec_format(&m->specs[m->ref], ref, sizeof ref);
    cJSON_AddNumberToObject(j, "schema_version", 1);
    cJSON_AddStringToObject(j, "model", m->cfg.name);
    cJSON_AddStringToObject(j, "weights", m->weights_id);
    cJSON_AddNumberToObject(j, "tokens", m->T);
    cJSON_AddNumberToObject(j, "window", m->window);
    cJSON_AddNumberToObject(j, "stride", m->stride);
    cJSON_AddNumberToObject(j, "windows", m->nwindows);
    cJSON_AddNumberToObject(j, "scored_tokens", m->scored);
    cJSON_AddStringToObject(j, "reference", ref);
    cJSON_AddStringToObject(j, "logits_source", m->source);
    for (int k = 0; k < m->nf; k++) {
        cJSON *o = cJSON_CreateObject();
        char name[32];
        quant_spec_format(&m->specs[k], name, sizeof name);
        cJSON_AddStringToObject(o, "format", name);
        add_num(o, "bits_per_param", quant_model_bits_per_param(&m->bits[k]));
        add_num(o, "model_bits_per_param", quant_model_bits_per_param_all(&m->bits[k]));
        add_num(o, "perplexity", m->res[k].perplexity);
        add_num(o, "mean_kl_nats", m->res[k].mean_kl);
        add_num(o, "top1_agree_frac", m->res[k].top1_agree);
        add_num(o, "max_logit_diff", m->res[k].max_logit_diff);
        add_num(o, "weight_rmse", m->werr[k].rmse);
        add_num(o, "weight_sqnr_db", m->werr[k].sqnr_db);
        cJSON_AddItemToArray(a, o);
    }
    cJSON_AddItemToObject(j, "formats", a);
    return cli_print_json(j);
}

char *model_eval_csv(const ModelEval *m, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (!f)
        return NULL;
    fprintf(f, "format,bits_per_param,model_bits_per_param,perplexity,mean_kl_nats,top1_agree_frac,max_logit_diff,"
               "weight_rmse,weight_sqnr_db\n");
    for (int k = 0; k < m->nf; k++) {
        char name[32];
        quant_spec_format(&m->specs[k], name, sizeof name);
        const EvalResult *r = &m->res[k];
        fprintf(f, "%s,%.6g,%.6g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g\n", name, quant_model_bits_per_param(&m->bits[k]),
                quant_model_bits_per_param_all(&m->bits[k]), r->perplexity, r->mean_kl, r->top1_agree,
                r->max_logit_diff, m->werr[k].rmse, m->werr[k].sqnr_db);
    }
    if (fclose(f)) {
        free(text);
        return NULL;
    }
    return text;
}
