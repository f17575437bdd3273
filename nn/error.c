/*
 * nn/error.c — fills a simclr_error with a formatted reason. See nn/error.h.
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

int simclr_fail(simclr_error *err, const char *format, ...)
{
    va_list args;
    if (err != NULL) {
        va_start(args, format);
        vsnprintf(err->message, sizeof err->message, format, args);
        va_end(args);
    }
    return SIMCLR_FAILED;
}
