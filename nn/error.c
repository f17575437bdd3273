/*
 * nn/error.c — fills a simclr_error with a formatted reason; escapes names for it. See
 * nn/error.h.
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int simclr_fail(simclr_error *err, const char *format, ...)
{
    /* formatted into a local buffer first: an argument may point into err->message itself */
    char reason[sizeof err->message];
    va_list args;
    if (err != NULL) {
        va_start(args, format);
        vsnprintf(reason, sizeof reason, format, args);
        va_end(args);
        memcpy(err->message, reason, sizeof reason);
    }
    return SIMCLR_FAILED;
}

const char *simclr_escape(char *out, size_t size, const char *text)
{
    static const char hex[] = "0123456789abcdef";
    size_t used = 0;
    if (size == 0)
        return out;
    for (; *text != '\0'; text++) {
        const unsigned char c = (unsigned char)*text;
        const size_t need = c < 0x20 || c == 0x7f ? 4 : 1;
        if (used + need >= size)
            break;
        if (need == 4) {
            out[used++] = '\\';
            out[used++] = 'x';
            out[used++] = hex[c >> 4];
            out[used++] = hex[c & 15];
        } else {
            out[used++] = (char)c;
        }
    }
    out[used] = '\0';
    return out;
}
