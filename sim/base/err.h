/* err.h - how ipusim reports user errors and broken invariants.
 *
 * User errors (a bad config key, a checkpoint that lies, a graph that does
 * not fit) are returned: a function returns -1 (or NULL) and fills an IpuErr
 * whose message names the file, key, value or tile at fault. Library code
 * never exits; only main() picks the exit code.
 *
 * Simulator bugs (a broken invariant) stop the program through IPU_ASSERT,
 * which stays on in release builds and prints file:line.
 */
#ifndef IPUSIM_ERR_H
#define IPUSIM_ERR_H

#include <stdarg.h>

#define IPU_ERR_MSG_BYTES 512

typedef struct IpuErr {
    char msg[IPU_ERR_MSG_BYTES];
} IpuErr;

/* Fills e (which may be NULL) with a printf-style message; returns -1. */
int ipu_err(IpuErr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ipu_verr(IpuErr *e, const char *fmt, va_list ap);
/* Prefixes an existing message: "prefix: old message"; returns -1. */
int ipu_err_prefix(IpuErr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

_Noreturn void ipu_assert_fail(const char *cond, const char *file, int line);
#define IPU_ASSERT(c) ((c) ? (void)0 : ipu_assert_fail(#c, __FILE__, __LINE__))

#endif
