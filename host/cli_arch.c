/* cli_arch.c - `ipusim arch show|list`: print a resolved arch with every
 * key's value, unit and doc (text or JSON). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "host/cli.h"
#include "host/runcfg.h"
#include "sim/arch.h"
#include "sim/fileio.h"

int cli_arch_resolve(const char *preset, const char *file, const CliOpt *sets, IpuArch *a, IpuErr *err)
{
    if (arch_preset(preset, a, err))
        return -1;
    if (file) {
        /* arch_load_file reads until end of file: check first that it is a
         * regular file under the config cap (not /dev/zero, not a folder). */
        char *text;
        if (fileio_read(file, "arch file", FILEIO_CONFIG_MAX_BYTES, &text, NULL, err))
            return -1;
        free(text);
        if (arch_load_file(a, file, err))
            return -1;
    }
    for (int i = 0; sets && i < sets->count; i++) {
        const char *kv = sets->values[i], *eq = strchr(kv, '=');
        if (!eq)
            return ipu_err(err, "--set '%s': expected key=value", kv);
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
        if (runcfg_arch_set(a, key, eq + 1, err))
            return ipu_err_prefix(err, "--set");
    }
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

int cli_arch(int argc, char **argv)
{
    CliOpt opts[] = {
        {"json", 0, "print JSON: {preset, keys: [{name, value, type, unit, doc}]}", 0, {0}},
        {"arch-file", 1, "JSON object of keys applied after the preset (may hold \"preset\")", 0, {0}},
        {"set", 1, "key=value, applied last; repeatable", 0, {0}},
        {"help", 0, "this help", 0, {0}},
    };
    int nopts = (int)(sizeof opts / sizeof opts[0]);
    const char *pos[2];
    int npos;
    if (cli_parse("arch", argc, argv, opts, nopts, pos, 2, &npos))
        return 2;
    if (opts[3].count || npos == 0) {
        FILE *f = opts[3].count ? stdout : stderr;
        fprintf(f, "usage: ipusim arch list\n       ipusim arch show NAME [options]\n");
        cli_print_options(f, opts, nopts);
        return opts[3].count ? 0 : 2;
    }
    if (!strcmp(pos[0], "list") && npos == 1) {
        for (int i = 0; arch_preset_names[i]; i++)
            printf("%-10s %s\n", arch_preset_names[i], arch_preset_docs[i]);
        return 0;
    }
    if (strcmp(pos[0], "show") || npos != 2) {
        fprintf(stderr, "ipusim arch: expected 'list' or 'show NAME'\n");
        return 2;
    }
    IpuArch a;
    IpuErr err;
    if (cli_arch_resolve(pos[1], cli_value(&opts[1], NULL), &opts[2], &a, &err)) {
        fprintf(stderr, "ipusim arch: %s\n", err.msg);
        return 1;
    }
    if (opts[0].count)
        return print_json(&a);
    arch_print(stdout, &a);
    return 0;
}
