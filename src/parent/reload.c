/* reload: read, check and swap in a new configuration (reload.h). */
#include "reload.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "parent_fds.h"
#include "server.h"
#include "startup_check.h"
#include "util.h"
#include "xmalloc.h"

static int str_differs(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

static int metrics_differ(const struct config *a, const struct config *b)
{
	if (a->n_metrics_listeners != b->n_metrics_listeners)
		return 1;
	for (size_t i = 0; i < a->n_metrics_listeners; i++)
		if (!parent_same_endpoint(&a->metrics_listeners[i], &b->metrics_listeners[i]))
			return 1;
	return 0;
}

int reload_check_fixed(const struct config *o, const struct config *n, char *err, size_t errlen)
{
	/* What the running processes were built around: the accounts they
	 * run as, the directories they are confined to, where they log, the
	 * scheduler's limits and the metrics sockets. Changing them is a
	 * restart, said plainly rather than half applied. */
	const char *what = NULL;
	int line = 0;
	if (str_differs(o->user, n->user))
		what = "user", line = n->user_line;
	else if (str_differs(o->net_user, n->net_user))
		what = "user network", line = n->net_user_line;
	else if (str_differs(o->data_dir, n->data_dir))
		what = "data";
	else if (o->log_to != n->log_to || str_differs(o->log_path, n->log_path))
		what = "log";
	else if (o->retry_min != n->retry_min || o->retry_max != n->retry_max ||
	         o->max_lifetime != n->max_lifetime || o->delay_warning != n->delay_warning ||
	         o->queue_concurrency != n->queue_concurrency ||
	         o->queue_per_destination != n->queue_per_destination ||
	         o->queue_syncfs != n->queue_syncfs)
		what = "queue";
	else if (metrics_differ(o, n))
		what = "metrics listen";
	else if (o->limits.smtp_processes != n->limits.smtp_processes)
		what = "limits smtp-processes";
	if (what == NULL)
		return 0;
	char at[32] = "";
	if (line > 0)
		snprintf(at, sizeof(at), ":%d", line);
	err_set(err, errlen, "%s%s: changing \"%s\" needs a restart of ravend, not a reload",
	        n->file ? n->file : "(built-in)", at, what);
	return -1;
}

/* Each new listener gets the old one's socket when the address and port
 * are the same (its flags may change), else a new socket. */
static int plan_listeners(const struct parent *p, struct reload_next *nx, char *err, size_t errlen)
{
	const struct config *c = nx->conf;
	/* The number of smtp processes is fixed until a restart
	 * (reload_check_fixed): an endpoint kept keeps its whole group. */
	unsigned w = (unsigned)c->limits.smtp_processes;
	nx->listen = xcalloc(c->n_listeners * w + 1, sizeof(*nx->listen));
	nx->fresh = xcalloc(c->n_listeners * w + 1, sizeof(*nx->fresh));
	int *fds = xcalloc(w, sizeof(*fds));
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct listener *l = &c->listeners[i];
		size_t found = 0;
		for (unsigned g = 0; g < w; g++) {
			fds[g] = -1;
			for (size_t k = 0; k < p->n_listen && fds[g] == -1; k++)
				if (p->listen[k].worker == g &&
				    parent_same_endpoint(p->listen[k].l, l))
					fds[g] = p->listen[k].fd, found++;
		}
		int fresh = found == 0;
		if (fresh && parent_listen_group(l, w, fds) == -1) {
			err_set(err, errlen, "%s: cannot listen on [%s]:%u: %s", c->file, l->addr,
			        l->port, strerror(errno));
			free(fds);
			return -1;
		}
		if (fresh)
			log_info("event=listening addr=%s port=%u submission=%d processes=%u",
			         l->addr, l->port, l->submission, w);
		for (unsigned g = 0; g < w; g++) {
			nx->fresh[nx->n_listen] = fresh;
			nx->listen[nx->n_listen++] = (struct listen_fd){fds[g], l, g};
		}
	}
	free(fds);
	return 0;
}

/* The text and tables for the queue, which cannot open them (chrooted). */
static int bundle_memfd(const struct conf_bundle *b)
{
	struct buf out;
	buf_init(&out, 0);
	conf_bundle_encode(b, &out);
	int fd = parent_memfd("raven.conf.bundle", out.data, out.len);
	explicit_bzero(out.data, out.len); /* table files may hold hashes */
	buf_free(&out);
	return fd;
}

int reload_prepare(const struct parent *p, struct reload_next *nx, char *err, size_t errlen)
{
	memset(nx, 0, sizeof(*nx));
	nx->conf_fd = nx->bundle_fd = -1;
	const char *file = p->conf->file;
	if (file == NULL) {
		err_set(err, errlen,
		        "running with the built-in default: there is no configuration "
		        "file to reload (start ravend with -c FILE)");
		return -1;
	}
	size_t len = 0;
	char *text = file_read_bounded(file, CONF_MAX_TEXT, &len, err, errlen);
	if (text == NULL)
		return -1;
	struct conf_bundle b;
	memset(&b, 0, sizeof(b));
	nx->conf = conf_parse_recording(file, text, len, &b, err, errlen);
	int rc = -1;
	if (nx->conf == NULL || reload_check_fixed(p->conf, nx->conf, err, errlen) == -1 ||
	    startup_check_fd_limit(nx->conf, err, errlen) == -1 ||
	    smtp_tls_check(nx->conf, err, errlen) == -1 || plan_listeners(p, nx, err, errlen) == -1)
		goto out;
	nx->conf_fd = parent_memfd("raven.conf", text, len);
	nx->bundle_fd = nx->conf_fd == -1 ? -1 : bundle_memfd(&b);
	if (nx->bundle_fd == -1) {
		err_set(err, errlen, "cannot hand the configuration over: %s", strerror(errno));
		goto out;
	}
	conf_wipe_secrets(nx->conf, 0); /* as at start: only the auth role keeps hashes */
	rc = 0;
out:
	conf_bundle_free(&b);
	free(text);
	if (rc == -1)
		reload_abort(nx);
	return rc;
}

void reload_abort(struct reload_next *nx)
{
	for (size_t i = 0; i < nx->n_listen; i++)
		if (nx->fresh[i])
			close(nx->listen[i].fd);
	if (nx->conf_fd != -1)
		close(nx->conf_fd);
	if (nx->bundle_fd != -1)
		close(nx->bundle_fd);
	free(nx->listen);
	free(nx->fresh);
	if (nx->conf)
		conf_free(nx->conf);
	memset(nx, 0, sizeof(*nx));
	nx->conf_fd = nx->bundle_fd = -1;
}

void reload_commit(struct parent *p, struct reload_next *nx)
{
	/* The old listeners the new configuration dropped close here; the
	 * retiring smtp role holds its own copies until it has stopped. */
	for (size_t k = 0; k < p->n_listen; k++) {
		int kept = 0;
		for (size_t i = 0; i < nx->n_listen && !kept; i++)
			kept = nx->listen[i].fd == p->listen[k].fd;
		if (!kept) {
			log_info("event=listen-closed addr=%s port=%u", p->listen[k].l->addr,
			         p->listen[k].l->port);
			close(p->listen[k].fd);
		}
	}
	free(p->listen);
	p->listen = nx->listen;
	p->n_listen = nx->n_listen;
	if (p->conf_fd != -1)
		close(p->conf_fd);
	p->conf_fd = nx->conf_fd;
	close(nx->bundle_fd);
	if (startup_raise_fd_limit(nx->conf) == -1)
		log_warn("event=fd-limit-not-raised errno=%d", errno);
	conf_free((struct config *)p->conf);
	p->conf = nx->conf;
	free(nx->fresh);
	memset(nx, 0, sizeof(*nx));
	nx->conf_fd = nx->bundle_fd = -1;
}
