/* fuzz_tokenize_cli.c - libFuzzer harness: the command line of `ipusim
 * tokenize`. The bytes are cut at NULs into up to 32 arguments and given to
 * the CLI with the real GPT-2 vocabulary preloaded (a --vocab argument loads
 * its own). Invariants: the exit code is 0, 1 or 2; one argument that is not
 * an option and is valid UTF-8 encodes (0); --decode with ids inside the
 * vocabulary decodes (0); no arguments is a usage error (2). */
#include <errno.h>

#include "host/cli.h"
#include "tests/fuzz/gpt2.h"

#define MAX_ARGS 32

static Bpe *gpt2;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    gpt2 = fuzz_load_gpt2();
    FUZZ_CHECK(freopen("/dev/null", "w", stdout) != NULL, "cannot silence stdout");
    return 0;
}

/* s is a decimal id inside the vocabulary. */
static int known_id(const char *s)
{
    if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9)
        return 0;
    return atol(s) < bpe_vocab_size(gpt2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!gpt2)
        LLVMFuzzerInitialize(NULL, NULL);
    char *s = fuzz_string(data, size);
    char *argv[MAX_ARGS + 2] = {"tokenize"};
    int argc = 1;
    for (char *p = s; p < s + size && argc <= MAX_ARGS; p += strlen(p) + 1)
        argv[argc++] = p;
    int options = 0, decode = 0, ids_known = 1;
    for (int i = 1; i < argc; i++) {
        int opt = !strncmp(argv[i], "--", 2) && argv[i][2];
        options += opt;
        decode |= !strcmp(argv[i], "--decode");
        if (!opt && !known_id(argv[i]))
            ids_known = 0;
    }
    size_t bad;
    int rc = cli_tokenize_with(argc, argv, gpt2);
    fflush(stdout);
    FUZZ_CHECK(rc == 0 || rc == 1 || rc == 2, "exit code %d", rc);
    if (argc == 1)
        FUZZ_CHECK(rc == 2, "no arguments gave %d", rc);
    if (argc == 2 && !options && bpe_utf8_check(argv[1], strlen(argv[1]), &bad) == 0)
        FUZZ_CHECK(rc == 0, "encoding '%s' gave %d", argv[1], rc);
    if (argc >= 3 && options == 1 && decode && ids_known)
        FUZZ_CHECK(rc == 0, "decoding known ids gave %d", rc);
    free(s);
    return 0;
}
