/* cli_model.h - what the `ipusim model` subcommands' files share
 * (host/cli_model.c dispatches; each subcommand beyond synth, info and
 * check has a file of its own). Private to host/cli_model*.c and
 * host/cli_tradeoff.c. */
#ifndef IPUSIM_CLI_MODEL_H
#define IPUSIM_CLI_MODEL_H

#include <stdint.h>

/* `ipusim model eval` (host/cli_model_eval.c); argv[0] is "eval". */
int cli_model_eval(int argc, char **argv);
/* Option --OPT's value s as an integer in 0..max: 0, or -1 after printing
 * "ipusim CMD: --OPT 'S' is not an integer in 0..MAX" (CMD: "model eval", "tradeoff"). */
int cli_model_u64(const char *cmd, const char *opt, const char *s, uint64_t max, uint64_t *out);

#endif
