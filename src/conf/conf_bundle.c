/* conf_bundle: a configuration and the table files it read (conf_bundle.h). */
#include "conf_bundle.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf_int.h"
#include "util.h"
#include "xmalloc.h"

#define BUNDLE_MAGIC 0x52564231u /* "RVB1" */

void conf_bundle_add(struct conf_bundle *b, const char *path, const char *text, size_t len)
{
	b->files = xreallocarray(b->files, b->n_files + 1, sizeof(*b->files));
	struct conf_bundle_file *f = &b->files[b->n_files++];
	f->path = xstrdup(path);
	f->text = xmalloc(len + 1);
	memcpy(f->text, text, len);
	f->text[len] = '\0';
	f->len = len;
}

const struct conf_bundle_file *conf_bundle_find(const struct conf_bundle *b, const char *path)
{
	for (size_t i = 0; i < b->n_files; i++)
		if (strcmp(b->files[i].path, path) == 0)
			return &b->files[i];
	return NULL;
}

int conf_bundle_load_table(struct conf_bundle *b, int record, struct table *t, const char *path,
                           char *err, size_t errlen)
{
	if (b != NULL && !record) {
		const struct conf_bundle_file *f = conf_bundle_find(b, path);
		if (f == NULL) {
			err_set(err, errlen, "%s: not in the configuration handed over", path);
			return -1;
		}
		return table_load_file_text(t, path, f->text, f->len, err, errlen);
	}
	if (b == NULL)
		return table_load_file(t, path, err, errlen);
	size_t len;
	char *text = file_read_bounded(path, TABLE_MAX_FILE, &len, err, errlen);
	if (text == NULL)
		return -1;
	int rc = table_load_file_text(t, path, text, len, err, errlen);
	if (rc == 0 && b->n_files < CONF_BUNDLE_MAX_FILES && conf_bundle_find(b, path) == NULL)
		conf_bundle_add(b, path, text, len);
	else if (rc == 0 && conf_bundle_find(b, path) == NULL) {
		err_set(err, errlen, "more than %d table files", CONF_BUNDLE_MAX_FILES);
		rc = -1;
	}
	explicit_bzero(text, len);
	free(text);
	return rc;
}

struct config *conf_parse_recording(const char *name, const char *text, size_t len,
                                    struct conf_bundle *b, char *err, size_t errlen)
{
	char cwd[PATH_MAX];
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		err_set(err, errlen, "cannot get the current directory: %s", strerror(errno));
		return NULL;
	}
	b->cwd = xstrdup(cwd);
	b->name = xstrdup(name);
	b->text = xmalloc(len + 1);
	memcpy(b->text, text, len);
	b->text[len] = '\0';
	b->len = len;
	struct conf_parser p;
	memset(&p, 0, sizeof(p));
	p.name = name;
	p.bundle = b;
	p.record = 1;
	struct config *c = conf_parse_with(&p, text, len, err, errlen);
	if (c != NULL && conf_finish_in(c, cwd, err, errlen) == -1) {
		conf_free(c);
		return NULL;
	}
	return c;
}

struct config *conf_parse_bundle(const struct conf_bundle *b, char *err, size_t errlen)
{
	struct conf_parser p;
	memset(&p, 0, sizeof(p));
	p.name = b->name;
	p.bundle = (struct conf_bundle *)b; /* only read: record is 0 */
	struct config *c = conf_parse_with(&p, b->text, b->len, err, errlen);
	if (c != NULL && conf_finish_in(c, b->cwd, err, errlen) == -1) {
		conf_free(c);
		return NULL;
	}
	return c;
}

void conf_bundle_encode(const struct conf_bundle *b, struct buf *out)
{
	buf_put_u32(out, BUNDLE_MAGIC);
	buf_put_str(out, b->cwd);
	buf_put_str(out, b->name);
	buf_put_bytes(out, b->text, b->len);
	buf_put_u32(out, (uint32_t)b->n_files);
	for (size_t i = 0; i < b->n_files; i++) {
		buf_put_str(out, b->files[i].path);
		buf_put_bytes(out, b->files[i].text, b->files[i].len);
	}
}

/* A text field: no NUL inside (neither a configuration nor a table has one). */
static int get_text(struct reader *r, char **out, size_t *len, size_t max)
{
	if (reader_str(r, out, max) == -1)
		return -1;
	*len = strlen(*out);
	return 0;
}

int conf_bundle_decode(const uint8_t *p, size_t n, struct conf_bundle *b)
{
	struct reader r;
	uint32_t magic, nf;
	memset(b, 0, sizeof(*b));
	reader_init(&r, p, n);
	if (reader_u32(&r, &magic) == -1 || magic != BUNDLE_MAGIC ||
	    reader_str(&r, &b->cwd, PATH_MAX) == -1 || b->cwd[0] != '/' ||
	    reader_str(&r, &b->name, PATH_MAX) == -1 ||
	    get_text(&r, &b->text, &b->len, CONF_MAX_TEXT) == -1 || reader_u32(&r, &nf) == -1 ||
	    nf > CONF_BUNDLE_MAX_FILES)
		goto fail;
	b->files = xcalloc(nf + 1, sizeof(*b->files));
	for (uint32_t i = 0; i < nf; i++) {
		struct conf_bundle_file *f = &b->files[i];
		b->n_files++;
		if (reader_str(&r, &f->path, PATH_MAX) == -1 ||
		    get_text(&r, &f->text, &f->len, TABLE_MAX_FILE) == -1)
			goto fail;
	}
	if (reader_done(&r) != 0)
		goto fail;
	return 0;
fail:
	conf_bundle_free(b);
	return -1;
}

void conf_bundle_free(struct conf_bundle *b)
{
	for (size_t i = 0; i < b->n_files; i++) {
		if (b->files[i].text)
			explicit_bzero(b->files[i].text, b->files[i].len);
		free(b->files[i].text);
		free(b->files[i].path);
	}
	free(b->files);
	if (b->text)
		explicit_bzero(b->text, b->len);
	free(b->text);
	free(b->name);
	free(b->cwd);
	memset(b, 0, sizeof(*b));
}
