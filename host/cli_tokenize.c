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

enum { O_VOCAB, O_DECODE, O_SPECIAL, O_HELP, O_COUNT };

/* The options of tokenize (copied: cli_parse fills count and values). */
static const CliOpt tokenize_opts[] = {
    [O_VOCAB] = {"vocab", 1, "vocabulary folder (encoder.json + vocab.bpe, or vocab.json + merges.txt); "
                             "default $IPUSIM_VOCAB, then ${IPUSIM_DATA:-~/.cache/ipusim}/gpt2", 0, {0}},
    [O_DECODE] = {"decode", 0, "the arguments are token ids: print their text", 0, {0}},
    [O_SPECIAL] = {"special", 0, "encode the text <|endoftext|> as its special id (50256)", 0, {0}},
    [O_HELP] = {"help", 0, "show this help", 0, {0}},
};
_Static_assert(sizeof tokenize_opts / sizeof *tokenize_opts == O_COUNT, "one entry per option");

/* Prints the text of the token ids args[0..n): 0, 1 (input error) or 2 (an argument is not an id). */
static int decode_args(Bpe *b, const char **args, int n)
{
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    if (!ids) {
        fprintf(stderr, "ipusim tokenize: out of memory\n");
        return 1;
    }
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        long v = strtol(args[i], &end, 10);
        if (end == args[i] || *end || errno || v < INT32_MIN || v > INT32_MAX) {
            fprintf(stderr, "ipusim tokenize: '%s' is not a token id\n", args[i]);
            free(ids);
            return 2;
        }
        ids[i] = (int32_t)v;
    }
    size_t len;
    IpuErr e = {{0}};
    char *text = bpe_decode(b, ids, (size_t)n, &len, &e);
    free(ids);
    if (!text) {
        fprintf(stderr, "ipusim tokenize: %s\n", e.msg);
        return 1;
    }
    fwrite(text, 1, len, stdout);
    fputc('\n', stdout);
    free(text);
    return 0;
}

/* Prints the ids of text on one line: 0 or 1. */
static int encode_text(Bpe *b, const char *text, int special)
{
    BpeIds out = {0};
    IpuErr e = {{0}};
    if (bpe_encode(b, text, strlen(text), special ? BPE_ALLOW_SPECIAL : 0, &out, &e) < 0) {
        fprintf(stderr, "ipusim tokenize: %s\n", e.msg);
        bpe_ids_free(&out);
        return 1;
    }
    for (size_t i = 0; i < out.n; i++)
        printf("%s%d", i ? " " : "", out.ids[i]);
    printf("\n");
    bpe_ids_free(&out);
    return 0;
}

int cli_tokenize(int argc, char **argv) { return cli_tokenize_with(argc, argv, NULL); }

int cli_tokenize_with(int argc, char **argv, Bpe *vocab)
{
    CliOpt opts[O_COUNT];
    memcpy(opts, tokenize_opts, sizeof opts);
    const char **pos = malloc((size_t)argc * sizeof *pos); /* positionals are at most argc - 1 */
    int npos = 0, rc = 1;
    Bpe *b = NULL;
    if (!pos) {
        fprintf(stderr, "ipusim tokenize: out of memory\n");
        return 1;
    }
    if (cli_parse("tokenize", argc, argv, opts, O_COUNT, pos, argc, &npos) < 0) {
        rc = 2;
        goto out;
    }
    if (opts[O_HELP].count) {
        tokenize_usage(stdout, opts, O_COUNT);
        rc = 0;
        goto out;
    }
    int decode = opts[O_DECODE].count > 0;
    if ((!decode && npos != 1) || (decode && npos == 0)) {
        tokenize_usage(stderr, opts, O_COUNT);
        rc = 2;
        goto out;
    }
    IpuErr e = {{0}};
    char dir[BPE_PATH_BYTES];
    if (vocab && !opts[O_VOCAB].count)
        b = vocab;
    else if (bpe_find_vocab(cli_value(&opts[O_VOCAB], NULL), dir, sizeof dir, &e) < 0 || !(b = bpe_create(dir, &e))) {
        fprintf(stderr, "ipusim tokenize: %s\n", e.msg);
        goto out;
    }
    rc = decode ? decode_args(b, pos, npos) : encode_text(b, pos[0], opts[O_SPECIAL].count > 0);
out:
    free(pos);
    if (b != vocab)
        bpe_destroy(b);
    return rc;
}
