/* err.c - error messages and the always-on assertion (see err.h). */
#include "base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ipu_verr(IpuErr *e, const char *fmt, va_list ap)
{
    if (e)
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    return -1;
}

int ipu_err(IpuErr *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ipu_verr(e, fmt, ap);
    va_end(ap);
    return -1;
}

int ipu_err_prefix(IpuErr *e, const char *fmt, ...)
{
    if (!e)
        return -1;
    char old[IPU_ERR_MSG_BYTES];
    memcpy(old, e->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n + 2 < sizeof e->msg) {
        size_t used = (size_t)n;
        e->msg[used] = ':';
        e->msg[used + 1] = ' ';
        size_t room = sizeof e->msg - used - 3;
        size_t len = strnlen(old, room);
        memcpy(e->msg + used + 2, old, len);
        e->msg[used + 2 + len] = '\0';
    }
    return -1;
}

void ipu_assert_fail(const char *cond, const char *file, int line)
{
    fprintf(stderr, "ipusim: internal error: assertion `%s' failed at %s:%d\n", cond, file, line);
    abort();
}
