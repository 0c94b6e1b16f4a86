/* cli_tokenize.c - `ipusim tokenize`: text to GPT-2 token ids and back. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/cli.h"
#include "models/bpe.h"

static void tokenize_usage(FILE *f, const CliOpt *opts, int nopts)
{
    fprintf(f, "usage: ipusim tokenize [--vocab DIR] [--special] \"TEXT\"\n"
               "       ipusim tokenize [--vocab DIR] --decode ID [ID ...]\n"
               "Encodes TEXT with the GPT-2 byte-level BPE and prints the ids on one line,\n"
               "or decodes ids back to text.\n\noptions:\n");
    cli_print_options(f, opts, nopts);
}

int cli_tokenize(int argc, char **argv) { return cli_tokenize_with(argc, argv, NULL); }

int cli_tokenize_with(int argc, char **argv, Bpe *vocab)
{
    CliOpt opts[] = {
        {"vocab", 1, "vocabulary folder (encoder.json + vocab.bpe, or vocab.json + merges.txt); "
                     "default $IPUSIM_VOCAB, then ${IPUSIM_DATA:-~/.cache/ipusim}/gpt2", 0, {0}},
        {"decode", 0, "the arguments are token ids: print their text", 0, {0}},
        {"special", 0, "encode the text <|endoftext|> as its special id (50256)", 0, {0}},
        {"help", 0, "show this help", 0, {0}},
    };
    const int nopts = (int)(sizeof opts / sizeof opts[0]);
    const char **pos = malloc((size_t)argc * sizeof *pos); /* positionals are at most argc - 1 */
    int npos = 0, rc = 1;
    Bpe *b = NULL;
    int32_t *ids = NULL;
    if (!pos) {
        fprintf(stderr, "ipusim tokenize: out of memory\n");
        return 1;
    }
    if (cli_parse("tokenize", argc, argv, opts, nopts, pos, argc, &npos) < 0) {
        rc = 2;
        goto out;
    }
    if (opts[3].count) {
        tokenize_usage(stdout, opts, nopts);
        rc = 0;
        goto out;
    }
    int decode = opts[1].count > 0;
    if ((!decode && npos != 1) || (decode && npos == 0)) {
        tokenize_usage(stderr, opts, nopts);
        rc = 2;
        goto out;
    }
    IpuErr e = {{0}};
    char dir[BPE_PATH_BYTES];
    if (vocab && !opts[0].count)
        b = vocab;
    else if (bpe_find_vocab(cli_value(&opts[0], NULL), dir, sizeof dir, &e) < 0 || !(b = bpe_create(dir, &e))) {
        fprintf(stderr, "ipusim tokenize: %s\n", e.msg);
        goto out;
    }
    if (decode) {
        ids = malloc((size_t)npos * sizeof *ids);
        if (!ids)
            goto out;
        for (int i = 0; i < npos; i++) {
            char *end;
            errno = 0;
            long v = strtol(pos[i], &end, 10);
            if (end == pos[i] || *end || errno || v < INT32_MIN || v > INT32_MAX) {
                fprintf(stderr, "ipusim tokenize: '%s' is not a token id\n", pos[i]);
                rc = 2;
                goto out;
            }
            ids[i] = (int32_t)v;
        }
        size_t len;
        char *text = bpe_decode(b, ids, (size_t)npos, &len, &e);
        if (!text) {
            fprintf(stderr, "ipusim tokenize: %s\n", e.msg);
            goto out;
        }
        fwrite(text, 1, len, stdout);
        fputc('\n', stdout);
        free(text);
    } else {
        BpeIds out = {0};
        if (bpe_encode(b, pos[0], strlen(pos[0]), opts[2].count ? BPE_ALLOW_SPECIAL : 0, &out, &e) < 0) {
            fprintf(stderr, "ipusim tokenize: %s\n", e.msg);
            bpe_ids_free(&out);
            goto out;
        }
        for (size_t i = 0; i < out.n; i++)
            printf("%s%d", i ? " " : "", out.ids[i]);
        printf("\n");
        bpe_ids_free(&out);
    }
    rc = 0;
out:
    free(ids);
    free(pos);
    if (b != vocab)
        bpe_destroy(b);
    return rc;
}
