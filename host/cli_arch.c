/* cli_arch.c - `ipusim arch show|list`: print a resolved arch with every
 * key's value, unit and doc (text or JSON). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "host/cli.h"
#include "host/runcfg.h"
#include "sim/arch.h"

/* What arch_file_each's entries are applied with. */
typedef struct ResolveCtx {
    const char *given;   /* the preset the command line names, or NULL */
    const char *file;
    IpuArch *a;
    int based;           /* a preset is in *a */
} ResolveCtx;

static int apply_file_entry(void *ctx, const char *key, const char *value, IpuErr *err)
{
    ResolveCtx *c = ctx;
    int rv;
    if (!strcmp(key, "preset")) {
        if (c->given && strcmp(c->given, value))
            return ipu_err(err, "arch file '%s' names preset '%s' but the command line names '%s': give one of them, "
                                "or the same",
                           c->file, value, c->given);
        c->based = 1;
        rv = arch_preset(value, c->a, err);
    } else if (!c->based) {
        rv = ipu_err(err, "key '%s' comes with no preset: name one on the command line or put \"preset\" in the file",
                     key);
    } else {
        rv = arch_set(c->a, key, value, err);
    }
    return rv ? ipu_err_prefix(err, "arch file '%s'", c->file) : 0;
}

int cli_arch_set_kv(IpuArch *a, const char *kv, IpuErr *err)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return ipu_err(err, "--set '%s': expected key=value", kv);
    const char *key = kv;
    if (!strncmp(key, "arch.", 5) && key + 5 < eq) /* one spelling everywhere: arch.<key> as in ipusim run */
        key += 5;
    char k[128];
    if ((size_t)(eq - key) >= sizeof k)
        return ipu_err(err, "--set '%s': key too long", kv);
    snprintf(k, sizeof k, "%.*s", (int)(eq - key), key);
    if (runcfg_arch_set(a, k, eq + 1, err))
        return ipu_err_prefix(err, "--set");
    return 0;
}

void cli_arch_json(cJSON *j, const IpuArch *a, const CliOpt *arch_file, const CliOpt *sets)
{
    cJSON_AddStringToObject(j, "arch", a->name);
    if (arch_file->count)
        cJSON_AddStringToObject(j, "arch_file", cli_value(arch_file, ""));
    cJSON *arr = cJSON_AddArrayToObject(j, "set");
    for (int k = 0; k < sets->count; k++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(sets->values[k]));
}

void cli_arch_line(const IpuArch *a, const CliOpt *arch_file, const CliOpt *sets)
{
    printf("arch: %s", a->name);
    if (arch_file->count)
        printf(" --arch-file %s", cli_value(arch_file, ""));
    for (int k = 0; k < sets->count; k++)
        printf(" --set %s", sets->values[k]);
    printf("\n");
}

int cli_print_json(cJSON *j)
{
    char *txt = cJSON_Print(j);
    if (txt)
        puts(txt);
    cJSON_free(txt);
    cJSON_Delete(j);
    return txt ? 0 : 1;
}

int cli_arch_resolve(const char *preset, const char *fallback, const char *file, const CliOpt *sets, IpuArch *a,
                     IpuErr *err)
{
    ResolveCtx c = {preset, file, a, 0};
    const char *base = preset ? preset : fallback;
    if (base) {
        if (arch_preset(base, a, err))
            return -1;
        c.based = 1;
    }
    if (file && arch_file_each(file, apply_file_entry, &c, err))
        return -1;
    if (!c.based)
        return ipu_err(err, "no arch preset: name one, or give an arch file with a \"preset\" key");
    for (int i = 0; sets && i < sets->count; i++)
        if (cli_arch_set_kv(a, sets->values[i], err))
            return -1;
    return arch_validate(a, err);
}

static int print_json(const IpuArch *a)
{
    cJSON *root = cJSON_CreateObject(), *ks = cJSON_CreateArray();
    cJSON_AddStringToObject(root, "preset", a->name);
    cJSON_AddItemToObject(root, "keys", ks);
    for (size_t i = 0; i < arch_key_count(); i++) {
        ArchKeyInfo k;
        arch_key_at(a, i, &k);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", k.name);
        if (!strcmp(k.type, "bool"))
            cJSON_AddBoolToObject(o, "value", !strcmp(k.value, "true"));
        else
            cJSON_AddRawToObject(o, "value", k.value);
        cJSON_AddStringToObject(o, "type", k.type);
        cJSON_AddStringToObject(o, "unit", k.unit);
        cJSON_AddStringToObject(o, "doc", k.doc);
        cJSON_AddItemToArray(ks, o);
    }
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    if (!s)
        return 1;
    puts(s);
    cJSON_free(s);
    return 0;
}

enum { O_JSON, O_ARCH_FILE, O_SET, O_HELP, O_COUNT };

/* The options of arch (copied: cli_parse fills count and values). */
static const CliOpt arch_opts[] = {
    [O_JSON] = {"json", 0, "print JSON: {preset, keys: [{name, value, type, unit, doc}]}", 0, {0}},
    [O_ARCH_FILE] = {"arch-file", 1, "JSON object of keys applied after the preset; its \"preset\" key, if any, must "
                                     "be NAME's (NAME may then be left out)", 0, {0}},
    [O_SET] = {"set", 1, "key=value (key or arch.key), applied last; repeatable", 0, {0}},
    [O_HELP] = {"help", 0, "this help", 0, {0}},
};
_Static_assert(sizeof arch_opts / sizeof *arch_opts == O_COUNT, "one entry per option");

int cli_arch(int argc, char **argv)
{
    CliOpt opts[O_COUNT];
    memcpy(opts, arch_opts, sizeof opts);
    const char *pos[2];
    int npos;
    if (cli_parse("arch", argc, argv, opts, O_COUNT, pos, 2, &npos))
        return 2;
    if (opts[O_HELP].count || npos == 0) {
        FILE *f = opts[O_HELP].count ? stdout : stderr;
        fprintf(f, "usage: ipusim arch list\n       ipusim arch show NAME [options]\n"
                   "       ipusim arch show --arch-file FILE [options]   (the file names the preset)\n");
        cli_print_options(f, opts, O_COUNT);
        return opts[O_HELP].count ? 0 : 2;
    }
    if (!strcmp(pos[0], "list") && npos == 1) {
        for (int i = 0; arch_preset_names[i]; i++)
            printf("%-10s %s\n", arch_preset_names[i], arch_preset_docs[i]);
        return 0;
    }
    if (strcmp(pos[0], "show") || npos > 2 || (npos == 1 && !opts[O_ARCH_FILE].count)) {
        fprintf(stderr, "ipusim arch: expected 'list', 'show NAME' or 'show --arch-file FILE'\n");
        return 2;
    }
    IpuArch a;
    IpuErr err;
    if (cli_arch_resolve(npos == 2 ? pos[1] : NULL, NULL, cli_value(&opts[O_ARCH_FILE], NULL), &opts[O_SET], &a,
                         &err)) {
        fprintf(stderr, "ipusim arch: %s\n", err.msg);
        return 1;
    }
    if (opts[O_JSON].count)
        return print_json(&a);
    arch_print(stdout, &a);
    return 0;
}
