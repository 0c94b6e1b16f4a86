/* plot.c - gnuplot terminals and reproducible scripts (see plot.h). */
#include "host/plot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fileio.h"

const char *plot_terminal(const char **ext)
{
    static const struct { const char *term, *ext; } terms[] = {
        {"pngcairo size 900,540", "png"}, {"png size 900,540", "png"}, {"svg size 900,540", "svg"}};
    for (size_t i = 0; i < sizeof terms / sizeof terms[0]; i++) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "gnuplot -e 'set terminal %s' </dev/null >/dev/null 2>&1", terms[i].term);
        if (system(cmd) == 0) {
            *ext = terms[i].ext;
            return terms[i].term;
        }
    }
    return NULL;
}

int plot_quotable(const char *s) { return !strpbrk(s, "'\n\r"); }

/* The start of every script: the folder holding the plot's files. gnuplot
 * (5.0 and later) names the script file it runs in ARG0, so the script
 * finds its own folder and redraws wherever the folder has been moved or
 * copied; a script read from stdin falls back to dir given with -e, else
 * the folder it was made for. */
static const char preamble[] = "if (exists(\"ARG0\") && ARG0 ne \"\") {\n"
                               "    dir = \".\"\n"
                               "    _i = strlen(ARG0)\n"
                               "    while (_i > 0) {\n"
                               "        if (ARG0[_i:_i] eq \"/\") { dir = ARG0[1:_i-1]; _i = 0 } else { _i = _i - 1 }\n"
                               "    }\n"
                               "} else {\n"
                               "    if (!exists(\"dir\")) { dir = '%s' }\n"
                               "}\n"
                               "set output dir.'/%s.%s'\n";

int plot_render(const char *build_dir, const char *final_dir, const char *name, const char *ext, const char *body,
                IpuErr *err)
{
    const char *fin = final_dir ? final_dir : ".";
    if (!plot_quotable(build_dir) || !plot_quotable(fin) || !plot_quotable(name))
        return ipu_err(err, "plot '%s': folder names with quotes or line breaks are not supported", name);
    size_t cap = strlen(body) + strlen(fin) + strlen(name) + sizeof preamble + 64;
    char *script = malloc(cap);
    if (!script)
        return ipu_err(err, "plot '%s': out of memory", name);
    int n = snprintf(script, cap, preamble, fin, name, ext);
    n += snprintf(script + n, cap - (size_t)n, "%s", body);
    char gp[1200], log[1200], cmd[2600];
    snprintf(gp, sizeof gp, "%s/%s.gp", build_dir, name);
    snprintf(log, sizeof log, "%s/%s.log", build_dir, name);
    int rv = fileio_write(gp, script, (size_t)n, err);
    free(script);
    if (rv)
        return -1;
    snprintf(cmd, sizeof cmd, "gnuplot -e \"dir='%s'\" '%s' >'%s' 2>&1", build_dir, gp, log);
    int st = system(cmd);
    if (st != 0) {
        char first[256] = "";
        FILE *lf = fopen(log, "r");
        if (lf) {
            while (fgets(first, sizeof first, lf) && first[strspn(first, " \t\r\n")] == '\0')
                ;
            fclose(lf);
            first[strcspn(first, "\r\n")] = '\0';
        }
        unlink(log);
        return ipu_err(err, "plot '%s': gnuplot failed (exit status %d): %s", name, st, first);
    }
    unlink(log);
    return 0;
}
