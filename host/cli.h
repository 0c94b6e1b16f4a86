/* cli.h - the ipusim subcommands. Each takes the arguments after its name
 * (argv[0] is the subcommand) and returns the process exit code, the same
 * rule in every command: 0 success; 2 bad usage (an unknown command or
 * option, a missing option, a malformed option value: not a decimal number,
 * outside the option's own range); 1 an input or runtime error (a file that
 * cannot be read or is invalid, a --set or scenario key that is unknown or
 * out of range, values that conflict with the model, a failed write). The message goes to
 * stderr and, for I/O, carries strerror. */
#ifndef IPUSIM_CLI_H
#define IPUSIM_CLI_H

#include <stdio.h>

#include "sim/arch.h"

typedef struct CliCommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} CliCommand;

int cli_arch(int argc, char **argv);
int cli_bench(int argc, char **argv);
/* `ipusim bench amp`, dispatched by cli_bench (argv[0] is "amp"). */
int cli_bench_amp(int argc, char **argv);
/* `ipusim bench matmul`, dispatched by cli_bench (argv[0] is "matmul"). */
int cli_bench_matmul(int argc, char **argv);
int cli_codelet(int argc, char **argv);
/* `ipusim bench forward`, dispatched by cli_bench (argv[0] is "forward"). */
int cli_bench_forward(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
/* The same with a vocabulary already loaded, used unless --vocab is given
 * (vocab may be NULL; it is not destroyed). For tests/fuzz/fuzz_tokenize_cli.c. */
typedef struct Bpe Bpe;
int cli_tokenize_with(int argc, char **argv, Bpe *vocab);
int cli_model(int argc, char **argv);
/* `ipusim model forward`, dispatched by cli_model (argv[0] is "forward"; host/cli_model_forward.c). */
int cli_model_forward(int argc, char **argv);
/* `ipusim run` and `ipusim compare` (host/cli_run.c). */
int cli_run(int argc, char **argv);
int cli_compare(int argc, char **argv);
/* `ipusim calibrate` (host/cli_calibrate.c). */
int cli_calibrate(int argc, char **argv);
/* `ipusim bench gptj`, dispatched by cli_bench (argv[0] is "gptj"). */
int cli_bench_gptj(int argc, char **argv);
/* `ipusim bench functional`, dispatched by cli_bench (argv[0] is "functional"). */
int cli_bench_functional(int argc, char **argv);
/* `ipusim sweep` (host/cli_sweep.c): one process; cli_sweep_with over the
 * ranks of a transport (host/sweep_exec.h; the MPI build's cli_sweep_mpi). */
typedef struct SweepTransport SweepTransport;
int cli_sweep(int argc, char **argv);
int cli_sweep_with(int argc, char **argv, const SweepTransport *t);
/* `ipusim bench sweep`, dispatched by cli_bench (argv[0] is "sweep"). */
int cli_bench_sweep(int argc, char **argv);


/* A small option parser shared by the subcommands. Options are "--name" or
 * "--name VALUE" (also "--name=VALUE"); an option may repeat (--set a=1
 * --set b=2) up to CLI_MAX_VALUES times. Anything not starting with "--" is
 * positional. An unknown option or a missing value is a usage error. */
#define CLI_MAX_VALUES 64

typedef struct CliOpt {
    const char *name;      /* without the leading "--" */
    int takes_value;       /* 1: needs a value */
    const char *help;      /* one line, shown by cli_print_options */
    int count;             /* filled: how many times given */
    const char *values[CLI_MAX_VALUES]; /* filled: the values, in order */
} CliOpt;

/* Returns 0, or -1 after printing "ipusim CMD: ..." to stderr. */
int cli_parse(const char *cmd, int argc, char **argv, CliOpt *opts, int nopts,
              const char **positional, int max_positional, int *npositional);
/* The last value given for an option, or def. */
const char *cli_value(const CliOpt *o, const char *def);
void cli_print_options(FILE *f, const CliOpt *opts, int nopts);

/* For the bench commands: monotonic wall seconds, and this process's peak
 * resident set so far in MiB. */
double cli_now_s(void);
double cli_peak_rss_mib(void);
/* Option --OPT's value s as an integer in lo..hi into *out: 0, or -1 after
 * printing "ipusim CMD: --OPT 'S' must be an integer in LO..HI". */
int cli_long(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);
/* The same for a decimal number ([+-]digits[.digits][e[+-]digits]: no hex,
 * no blanks, no inf or nan) in lo..hi. */
int cli_double(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out);
/* s is a whole decimal number as cli_double reads it. */
int cli_is_decimal(const char *s);

/* The arch of a command line: the preset it names (preset; NULL when it
 * names none: then the arch file's, else fallback), then the arch file's
 * keys (file may be NULL), then each --set key=value (sets may be NULL; key
 * or arch.key, one spelling everywhere), then arch_validate. An arch file
 * whose "preset" differs from the preset given is an error naming both. */
int cli_arch_resolve(const char *preset, const char *fallback, const char *file, const CliOpt *sets, IpuArch *a,
                     IpuErr *err);
/* A bench's JSON echo of the machine it ran: "arch" (the preset name),
 * "arch_file" (when given) and "set" (the --set values, in order). */
struct cJSON;
void cli_arch_json(struct cJSON *j, const IpuArch *a, const CliOpt *arch_file, const CliOpt *sets);
/* The same as a table's first line: "arch: NAME --arch-file F --set K=V ...", so it can be reproduced. */
void cli_arch_line(const IpuArch *a, const CliOpt *arch_file, const CliOpt *sets);
/* Prints j on stdout and deletes it; 0, or 1 when out of memory. */
int cli_print_json(struct cJSON *j);
/* One --set key=value (key or arch.key) into a, checked as ipusim run checks it. */
int cli_arch_set_kv(IpuArch *a, const char *kv, IpuErr *err);

#endif
