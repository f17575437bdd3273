/*
 * data/settings.c — parsing, formatting and checking the values of a settings table; see
 * settings.h.
 */
#include "settings.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const setting *settings_find_flag(const setting *table, size_t count, const char *flag)
{
    size_t i;
    for (i = 0; i < count; i++)
        if (table[i].flag != NULL && strcmp(table[i].flag, flag) == 0)
            return &table[i];
    return NULL;
}

const setting *settings_find_key(const setting *table, size_t count, const char *key)
{
    size_t i;
    for (i = 0; i < count; i++)
        if (table[i].key != NULL && strcmp(table[i].key, key) == 0)
            return &table[i];
    return NULL;
}

const char *setting_value_or_absent(const char *value, const char *key,
                                    const setting_added_later *added, size_t count)
{
    size_t i;
    for (i = 0; value == NULL && i < count; i++)
        if (strcmp(added[i].key, key) == 0)
            return added[i].absent;
    return value;
}

/* The field `s` describes inside `object`. */
static void *field(const setting *s, const void *object)
{
    return (char *)object + s->offset;
}

/* "from 0.001 to 100" for messages. */
static void range_text(const setting *s, char *out, size_t size)
{
    snprintf(out, size, "from %g to %g", s->min, s->max);
}

int setting_parse(const setting *s, void *object, const char *text, const char *source,
                  simclr_error *err)
{
    char range[96], shown[160], *end = NULL; /* shown: the text escaped for messages */
    double number;
    size_t i;
    simclr_escape(shown, sizeof shown, text);
    switch (s->type) {
    case SETTING_TEXT:
        if (strlen(text) >= s->capacity)
            return simclr_fail(err, "%s: '%.40s...' is longer than %lu characters", source, shown,
                               (unsigned long)(s->capacity - 1));
        strcpy((char *)field(s, object), text);
        return SIMCLR_OK;
    case SETTING_CHOICE:
        for (i = 0; s->choices[i] != NULL; i++)
            if (strcmp(s->choices[i], text) == 0) {
                *(int *)field(s, object) = s->choice_values != NULL ? s->choice_values[i] : (int)i;
                return SIMCLR_OK;
            }
        setting_usage(s, range, sizeof range);
        return simclr_fail(err, "%s: '%s' is not one of the choices (%s)", source, shown, range);
    case SETTING_SEED: {
        unsigned long long seed;
        errno = 0;
        seed = strtoull(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0' || text[0] == '-')
            return simclr_fail(err, "%s: '%s' is not a whole number from 0 to 2^64-1", source,
                               shown);
        *(uint64_t *)field(s, object) = (uint64_t)seed;
        return SIMCLR_OK;
    }
    default:
        break;
    }
    errno = 0;
    number = strtod(text, &end);
    range_text(s, range, sizeof range);
    if (end == text || *end != '\0' || errno == ERANGE || !(number >= s->min && number <= s->max))
        return simclr_fail(err, "%s wants a number %s, not '%s'", source, range, shown);
    switch (s->type) {
    case SETTING_SIZE:
    case SETTING_SWITCH:
    case SETTING_PRESENT:
        if (number != floor(number) || number > (double)SIZE_MAX)
            return simclr_fail(err, "%s wants a whole number %s, not '%s'", source, range, shown);
        if (s->type == SETTING_SIZE)
            *(size_t *)field(s, object) = (size_t)number;
        else
            *(int *)field(s, object) = (int)number;
        return SIMCLR_OK;
    case SETTING_DOUBLE:
        *(double *)field(s, object) = number;
        return SIMCLR_OK;
    case SETTING_FLOAT:
        *(float *)field(s, object) = (float)number;
        return SIMCLR_OK;
    default:
        return simclr_fail(err, "%s: unknown setting type", source);
    }
}

size_t setting_format(const setting *s, const void *object, char *out, size_t size)
{
    const void *value = field(s, object);
    int length;
    switch (s->type) {
    case SETTING_SIZE:
        length = snprintf(out, size, "%lu", (unsigned long)*(const size_t *)value);
        break;
    case SETTING_SEED:
        length = snprintf(out, size, "%llu", (unsigned long long)*(const uint64_t *)value);
        break;
    case SETTING_DOUBLE:
        length = snprintf(out, size, "%.17g", *(const double *)value);
        break;
    case SETTING_FLOAT:
        length = snprintf(out, size, "%.9g", (double)*(const float *)value);
        break;
    case SETTING_SWITCH:
    case SETTING_PRESENT:
        length = snprintf(out, size, "%d", *(const int *)value != 0);
        break;
    case SETTING_CHOICE: {
        const int chosen = *(const int *)value;
        size_t i;
        for (i = 0; s->choices[i] != NULL; i++)
            if ((s->choice_values != NULL ? s->choice_values[i] : (int)i) == chosen)
                break;
        length = s->choices[i] != NULL ? snprintf(out, size, "%s", s->choices[i])
                                       : snprintf(out, size, "%d", chosen);
        break;
    }
    default: /* SETTING_TEXT */
        length = snprintf(out, size, "%s", (const char *)value);
        break;
    }
    return length > 0 && (size_t)length < size ? (size_t)length : 0;
}

int setting_check(const setting *s, const void *object, const char *source, simclr_error *err)
{
    /* the value as text, parsed again into a scratch copy of the field: one range check for
     * values that came from flags, from files and from code */
    union {
        size_t size;
        double number;
        float single;
        int integer;
    } copy;
    setting shifted = *s;
    char text[128];
    if (s->type == SETTING_TEXT || s->type == SETTING_SEED)
        return SIMCLR_OK;
    if (setting_format(s, object, text, sizeof text) == 0)
        return simclr_fail(err, "%s: the value cannot be written", source);
    shifted.offset = 0;
    return setting_parse(&shifted, &copy, text, source, err);
}

void setting_usage(const setting *s, char *out, size_t size)
{
    size_t used, i;
    if (s->type == SETTING_SWITCH) {
        snprintf(out, size, "0|1");
        return;
    }
    if (s->type != SETTING_CHOICE) {
        snprintf(out, size, "%s", s->value_name != NULL ? s->value_name : "X");
        return;
    }
    out[0] = '\0';
    for (i = 0, used = 0; s->choices[i] != NULL && used + 1 < size; i++)
        used += (size_t)snprintf(out + used, size - used, "%s%s", i > 0 ? "|" : "",
                                 s->choices[i]);
}

settings_group settings_group_of(const setting *settings, size_t count, void *object)
{
    settings_group group;
    memset(&group, 0, sizeof group);
    group.settings = settings;
    group.count = count;
    group.object = object;
    return group;
}

/* The entry of the groups for --flag (inside its group's window), or NULL; *which its group. */
static const setting *group_flag(const settings_group *groups, size_t count, const char *word,
                                 size_t *which)
{
    size_t g;
    if (strncmp(word, "--", 2) != 0)
        return NULL;
    for (g = 0; g < count; g++) {
        const setting *s = settings_find_flag(groups[g].settings, groups[g].count, word + 2);
        if (s != NULL && (groups[g].to == 0 ||
                          (s->offset >= groups[g].from && s->offset < groups[g].to))) {
            *which = g;
            return s;
        }
    }
    return NULL;
}

int settings_parse_arguments(const settings_group *groups, size_t count, int argc, char **argv,
                             simclr_error *err)
{
    int a;
    for (a = 0; a < argc; a++) {
        size_t g = 0;
        const setting *s;
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0)
            return SETTINGS_HELP;
        s = group_flag(groups, count, argv[a], &g);
        if (s == NULL)
            return simclr_fail(err, "unknown argument '%s'", argv[a]);
        if (groups[g].given != NULL)
            groups[g].given[s - groups[g].settings] = 1;
        if (s->type == SETTING_PRESENT)
            *(int *)field(s, groups[g].object) = 1;
        else if (a + 1 >= argc)
            return simclr_fail(err, "%s needs a value", argv[a]);
        else if (setting_parse(s, groups[g].object, argv[a + 1], argv[a], err) != SIMCLR_OK)
            return SIMCLR_FAILED;
        else
            a++;
    }
    return SIMCLR_OK;
}

/* The value for people: numbers with %g (6 digits) rather than the exact round-trip form. */
static void format_for_people(const setting *s, const void *object, char *out, size_t size)
{
    if (s->type == SETTING_DOUBLE)
        snprintf(out, size, "%g", *(const double *)field(s, object));
    else if (s->type == SETTING_FLOAT)
        snprintf(out, size, "%g", (double)*(const float *)field(s, object));
    else if (setting_format(s, object, out, size) == 0)
        out[0] = '\0';
}

size_t settings_usage(const settings_group *groups, size_t count, char *out, size_t size)
{
    const size_t column = 25, width = 98; /* the help text's column and the line's width */
    size_t g, i, used = 0;
    out[0] = '\0';
    for (g = 0; g < count; g++)
        for (i = 0; i < groups[g].count && used + 1 < size; i++) {
            const setting *s = &groups[g].settings[i];
            char value[96], text[1024], fallback[128];
            const char *word;
            size_t at;
            int written, first;
            if (s->flag == NULL ||
                (groups[g].to != 0 && (s->offset < groups[g].from || s->offset >= groups[g].to)))
                continue;
            setting_usage(s, value, sizeof value);
            fallback[0] = '\0';
            if (strchr(s->help, '(') == NULL && s->type != SETTING_PRESENT)
                format_for_people(s, groups[g].object, fallback, sizeof fallback);
            snprintf(text, sizeof text, "%s%s%s%s", s->help, fallback[0] ? " (default " : "",
                     fallback, fallback[0] ? ")" : "");
            written = snprintf(out + used, size - used, "  --%s%s%s", s->flag,
                               s->type == SETTING_PRESENT ? "" : " ",
                               s->type == SETTING_PRESENT ? "" : value);
            at = written > 0 ? (size_t)written : 0;
            used += at;
            /* the help from the column on (the next line when the flag reaches it), wrapped */
            for (word = text, first = 1; *word != '\0' && used + 1 < size; first = 0) {
                const size_t length = strcspn(word, " ");
                const int wrap = first ? at + 1 > column : at + 1 + length > width;
                if (wrap)
                    used += (size_t)snprintf(out + used, size - used, "\n"), at = 0;
                if (first || wrap)
                    for (; at < column && used + 1 < size; at++)
                        out[used++] = ' ';
                else if (used + 1 < size)
                    out[used++] = ' ', at++;
                written = snprintf(out + used, size - used, "%.*s", (int)length, word);
                used += written > 0 ? (size_t)written : 0;
                at += length;
                for (word += length; *word == ' '; word++)
                    ;
            }
            if (used + 1 < size)
                out[used++] = '\n';
            out[used < size ? used : size - 1] = '\0';
        }
    return used < size ? used : size - 1;
}
