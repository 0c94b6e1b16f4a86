/* sim_c_api.h - sim's public C headers, as C++ code can include them.
 *
 * The sim headers are C11 without extern "C" guards, and err.h declares
 * ipu_assert_fail with C11's _Noreturn, which C++ spells [[noreturn]]. This
 * shim wraps them and maps that one keyword, so sim/ itself stays free of
 * C++-isms. Translation units that include it must be compiled with
 * -fno-operator-names: IsaCosts has fields named `and` and `or`.
 * It is not a C++ API for the simulator: the types stay the C ones.
 */
#ifndef IPUSIM_SYSTEMC_SIM_C_API_H
#define IPUSIM_SYSTEMC_SIM_C_API_H

#ifndef __cplusplus
#error "sim_c_api.h is for C++; C code includes sim/*.h directly"
#endif

#ifdef _Noreturn
#error "_Noreturn is already a macro; sim_c_api.h would redefine it"
#endif
#define _Noreturn [[noreturn]]
extern "C" {
#include "base/err.h"
#include "sim/arch.h"
#include "sim/engine.h"
#include "sim/graph.h"
#include "sim/program.h"
#include "sim/stats.h"
#include "sim/vertex.h"
#include "sim/worker.h"
}
#undef _Noreturn

#endif
