/*
 * conf_bundle: a configuration text together with every table file it read
 * and the directory relative paths were taken from — what a process that
 * cannot open those files (the queue, chrooted into the spool) needs to
 * parse exactly the configuration the parent checked. The parent records a
 * bundle while it parses (conf_parse_recording) and hands it over encoded
 * in a memfd at reload; the queue decodes it strictly and parses from it.
 */
#ifndef RAVEN_CONF_BUNDLE_H
#define RAVEN_CONF_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"

#define CONF_BUNDLE_MAX_FILES 256

struct conf_bundle_file {
	char *path; /* as the configuration names it */
	char *text;
	size_t len;
};

struct conf_bundle {
	char *cwd;  /* where conf_finish() made paths absolute from */
	char *name; /* the configuration's file name, for messages */
	char *text;
	size_t len;
	struct conf_bundle_file *files;
	size_t n_files;
};

/* Parse text (as conf_parse_string) and record it, the table files read and
 * the current directory in b (which must be zeroed). Then conf_finish(). */
struct config *conf_parse_recording(const char *name, const char *text, size_t len,
                                    struct conf_bundle *b, char *err, size_t errlen);
/* Parse and finish a bundle's configuration, its tables taken from the
 * bundle (a table file it lacks is an error), paths made absolute from its
 * directory. NULL with a reason in err. */
struct config *conf_parse_bundle(const struct conf_bundle *b, char *err, size_t errlen);
/* The text of a recorded table file, or NULL. */
const struct conf_bundle_file *conf_bundle_find(const struct conf_bundle *b, const char *path);
/* The parser's table-file source (conf_int.h): without a bundle, the file;
 * recording, the file, its text added to b; else the text b holds. */
int conf_bundle_load_table(struct conf_bundle *b, int record, struct table *t, const char *path,
                           char *err, size_t errlen);
void conf_bundle_add(struct conf_bundle *b, const char *path, const char *text, size_t len);

void conf_bundle_encode(const struct conf_bundle *b, struct buf *out);
/* Strict: a bad magic, a truncated or oversized field, too many files or
 * bytes left over fail (-1), and b is left empty. */
int conf_bundle_decode(const uint8_t *p, size_t n, struct conf_bundle *b);
/* Wipes the texts (a table may hold hashes) and frees. */
void conf_bundle_free(struct conf_bundle *b);

#endif
