/* gptj_step.h - one program run of a lowered GPT-J on the engine, the way
 * gptj_run does it, for callers that drive the steps themselves (the
 * `ipusim bench gptj` timer).
 *
 * Runs the prefill (decode = 0) or decode (1) program from its current root
 * and fills *s with the difference of the engine's stats over the run.
 * Timing mode (timing = 1) restarts a root it ran last time and keeps the
 * costs of steps costed before (engine_start_kept: the other root's, or in
 * a session every step's); functional mode validates the program every time. *last_root
 * carries the root between calls (start it at -1).
 */
#ifndef IPUSIM_GPTJ_STEP_H
#define IPUSIM_GPTJ_STEP_H

#include "host/gptj_run.h"
#include "host/lower/lower.h"
#include "sim/engine.h"

int gptj_run_step(Engine *e, Lowered *L, int decode, int *last_root, int timing, StepResult *s, IpuErr *err);

#endif
