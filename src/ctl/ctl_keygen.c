/* ctl_keygen: ravenctl dkim-keygen (see ctl_keygen.h). */
#include "ctl_keygen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "dkim.h"
#include "util.h"
#include "xmalloc.h"

/* Letters, digits, hyphens (and dots between labels for a domain). */
static int dns_name_ok(const char *s, int dots)
{
	size_t n = strlen(s), label = 0;
	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.' && dots && label > 0 && i + 1 < n) {
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      (c == '-' && label > 0)) ||
		    ++label > 63)
			return 0;
	}
	return 1;
}

static char *data_dir(const char *file)
{
	char err[512];
	struct config *c = file ? conf_load(file, err, sizeof(err)) : conf_default();
	if (c == NULL || conf_finish(c, err, sizeof(err)) == -1) {
		fprintf(stderr, "ravenctl: %s\n", err);
		if (c)
			conf_free(c);
		return NULL;
	}
	char *d = xstrdup(c->data_dir);
	conf_free(c);
	return d;
}

static int write_new(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		fprintf(stderr, "ravenctl: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fd_write_all(fd, text, strlen(text)) == -1 || fsync(fd) == -1) {
		fprintf(stderr, "ravenctl: %s: %s\n", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	return close(fd);
}

/* The record as a zone file line: strings of at most 255 octets. */
static void print_record(const char *selector, const char *domain, const char *txt)
{
	printf("%s._domainkey.%s. IN TXT (", selector, domain);
	for (size_t o = 0, n = strlen(txt); o < n; o += 255)
		printf(" \"%.*s\"", (int)(n - o < 255 ? n - o : 255), txt + o);
	printf(" )\n");
}

int ctl_dkim_keygen(const char *conf_file, const char *const *args, int nargs)
{
	enum dkim_alg alg = DKIM_ALG_RSA_SHA256;
	if (nargs < 2 || nargs > 3) {
		fprintf(stderr,
		        "usage: ravenctl [-c FILE] dkim-keygen DOMAIN SELECTOR [rsa|ed25519]\n");
		return 2;
	}
	if (!dns_name_ok(args[0], 1) || !dns_name_ok(args[1], 0)) {
		fprintf(stderr,
		        "ravenctl: dkim-keygen: \"%s\" / \"%s\": not a domain and a "
		        "selector\n",
		        args[0], args[1]);
		return 2;
	}
	if (nargs == 3 && strcmp(args[2], "ed25519") == 0)
		alg = DKIM_ALG_ED25519_SHA256;
	else if (nargs == 3 && strcmp(args[2], "rsa") != 0) {
		fprintf(stderr, "ravenctl: dkim-keygen: the key type is rsa or ed25519\n");
		return 2;
	}
	char *data = data_dir(conf_file);
	if (data == NULL)
		return 1;
	char *dir = xasprintf("%s/dkim", data);
	char *domain = ascii_lower_str(xstrdup(args[0]));
	char *path = xasprintf("%s/%s.%s.key", dir, domain, args[1]);
	char *pem = NULL, *txt = NULL, err[256];
	int rc = 1;
	if ((mkdir(data, 0755) == -1 && errno != EEXIST) ||
	    (mkdir(dir, 0700) == -1 && errno != EEXIST))
		fprintf(stderr, "ravenctl: %s: %s\n", dir, strerror(errno));
	else if (dkim_keygen(alg, 2048, &pem, &txt, err, sizeof(err)) == -1)
		fprintf(stderr, "ravenctl: dkim-keygen: %s\n", err);
	else if (write_new(path, pem) == 0) {
		printf("# key written to %s (readable by its owner only; ravend's signer\n"
		       "# reads it at start as root: keep it owned by root, mode 0600)\n",
		       path);
		printf("# publish in DNS:\n");
		print_record(args[1], domain, txt);
		printf("# and add to raven.conf:\n");
		printf("dkim sign domain \"%s\" selector \"%s\" key \"%s\"\n", domain, args[1],
		       path);
		rc = 0;
	}
	if (pem)
		explicit_bzero(pem, strlen(pem));
	free(pem);
	free(txt);
	free(domain);
	free(path);
	free(dir);
	free(data);
	return rc;
}
