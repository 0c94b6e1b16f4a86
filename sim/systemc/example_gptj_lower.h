/* example_gptj_lower.h - for example_gptj_decode.cpp: one GPT-J decode step
 * lowered onto a machine preset in timing mode (example_gptj_lower.c). C,
 * callable from C++. Not a library interface: a template for a platform
 * that takes its graph and program from ipusim's lowering. */
#ifndef IPUSIM_EXAMPLE_GPTJ_LOWER_H
#define IPUSIM_EXAMPLE_GPTJ_LOWER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct Graph;
struct Program;
typedef struct ExampleGptj ExampleGptj;

/* model (gptj-6b, gptj-tiny, gptj-micro) on arch (a preset, every chip
 * tensor parallel), weights in format (fp16, q4g:N) streamed layer by
 * layer, a KV cache of prompt_len tokens, batch 1: lowered, and its
 * program's root set to the decode step at position prompt_len. One at a
 * time (static state). 0, or -1 with msg. */
int example_gptj_decode_step(const char *model, const char *arch, const char *format, uint32_t prompt_len,
                             ExampleGptj **out, char *msg, size_t cap);
struct Graph *example_gptj_graph(ExampleGptj *ex);
const struct Program *example_gptj_program(ExampleGptj *ex);
/* The step's cycles from a plain engine run, without SystemC (a check). */
int example_gptj_engine_cycles(ExampleGptj *ex, uint64_t *cycles, char *msg, size_t cap);
void example_gptj_destroy(ExampleGptj *ex);

#ifdef __cplusplus
}
#endif

#endif
