/*
 * data/settings.h — tables of named settings: one entry per setting (its flag, its key in a
 * file's metadata, its type, where it lives in a struct, its allowed range, its help text), so
 * that a command-line parser, a --help listing, a metadata writer and a metadata reader all
 * work from the same list and cannot drift apart.
 *
 * A table describes the fields of one struct through offsetof(). Values travel as text:
 *   SETTING_SIZE    size_t, a whole decimal number in [min, max]
 *   SETTING_SEED    uint64_t, a whole decimal number (any 64-bit value)
 *   SETTING_DOUBLE  double in [min, max]; written with 17 significant digits (reads back exact)
 *   SETTING_FLOAT   float in [min, max]; written with 9 significant digits (reads back exact)
 *   SETTING_SWITCH  int, 0 or 1
 *   SETTING_CHOICE  an enum (stored as int): one of the names in `choices`
 *   SETTING_PRESENT int, set to 1 when the flag is given; the flag takes no value
 *   SETTING_TEXT    char[capacity]: any text shorter than capacity
 * A number outside its range, NaN, trailing characters or an unknown name are errors that name
 * the setting and the source of the text (a flag, or a file's metadata key), and quote the text
 * with its control characters escaped (simclr_escape), so the message stays one line.
 */
#ifndef SIMCLR_DATA_SETTINGS_H
#define SIMCLR_DATA_SETTINGS_H

#include <stddef.h>

#include "../nn/error.h"

typedef enum setting_type {
    SETTING_SIZE,
    SETTING_SEED,
    SETTING_DOUBLE,
    SETTING_FLOAT,
    SETTING_SWITCH,
    SETTING_CHOICE,
    SETTING_TEXT,
    SETTING_PRESENT
} setting_type;

typedef struct setting {
    const char *flag;            /* "temperature" for --temperature; NULL: not a flag */
    const char *key;             /* metadata key; NULL: not recorded in files */
    setting_type type;
    size_t offset;               /* offsetof(the struct, the field) */
    double min, max;             /* the allowed range (numbers) */
    const char *const *choices;  /* SETTING_CHOICE: the names, NULL-terminated */
    const int *choice_values;    /* SETTING_CHOICE: the enum value of each name (NULL: 0, 1, …) */
    size_t capacity;             /* SETTING_TEXT: the field's size in bytes */
    const char *value_name;      /* "T" in "--temperature T" */
    const char *help;            /* one line for --help, the default included */
} setting;

/* The entry whose flag is `flag` (without the leading "--"), or NULL. */
const setting *settings_find_flag(const setting *table, size_t count, const char *flag);

/* The entry whose metadata key is `key`, or NULL. */
const setting *settings_find_key(const setting *table, size_t count, const char *key);

/* Parses `text` into the field of `object` that `s` describes. `source` names where the text
 * came from in the error ("--temperature", "run/checkpoint.safetensors: metadata 'lr'"). */
int setting_parse(const setting *s, void *object, const char *text, const char *source,
                  simclr_error *err);

/* Writes the field's value as text that setting_parse reads back to the same bits. Returns the
 * length, or 0 when it does not fit in `size`. */
size_t setting_format(const setting *s, const void *object, char *out, size_t size);

/* Checks the field's current value against the setting's range (a value set by code rather
 * than parsed). */
int setting_check(const setting *s, const void *object, const char *source, simclr_error *err);

/* "--temperature T" (or "--head-bn 0|1", "--arch resnet18|resnet34|resnet50") into `out`. */
void setting_usage(const setting *s, char *out, size_t size);

/* ---- files written before a setting existed -------------------------------------------------
 * A file format gains keys over its life. Its reader lists the keys added after the format was
 * first written, each with the value that means what a file without it meant (the behaviour
 * before the setting existed), so that older files still read; any other missing key is an
 * error. */

typedef struct setting_added_later {
    const char *key;              /* a metadata key that older files lack */
    const char *absent;           /* the value such a file means, as text for setting_parse */
} setting_added_later;

/* `value` (a file's text for `key`) when the file has it; NULL when it does not, unless `key` is
 * in added[0 .. count): then that entry's absent value. */
const char *setting_value_or_absent(const char *value, const char *key,
                                    const setting_added_later *added, size_t count);

/* ---- command lines ---------------------------------------------------------------------------
 * A command's flags come from one or more tables, each over its own struct: `--flag VALUE` sets
 * the field, `--flag` alone a SETTING_PRESENT one; every other word is an error, and so is a
 * missing value. */

typedef struct settings_group {
    const setting *settings;
    size_t count;
    void *object;                 /* the struct the table describes */
    unsigned char *given;         /* (count) set to 1 for each flag given; may be NULL */
    size_t from, to;              /* only the entries at offsets in [from, to) (to 0: all) */
} settings_group;

/* A group of the whole table. */
settings_group settings_group_of(const setting *settings, size_t count, void *object);

/* The help of every command's --threads flag. */
#define SETTINGS_THREADS_HELP "OpenMP threads (default: all; the results are the same bits for any T)"

#define SETTINGS_HELP 1 /* settings_parse_arguments met --help or -h */

/* Parses argv[0 .. argc) against the groups: SIMCLR_OK, SETTINGS_HELP, or SIMCLR_FAILED with
 * the reason (naming the flag) in err. */
int settings_parse_arguments(const settings_group *groups, size_t count, int argc, char **argv,
                             simclr_error *err);

/* One line per flag of the groups ("  --temperature T   help (default 0.5)"), the default
 * being the group's object as it stands, unless the help states its own in parentheses.
 * Returns the length written (cut at size). */
size_t settings_usage(const settings_group *groups, size_t count, char *out, size_t size);

#endif
