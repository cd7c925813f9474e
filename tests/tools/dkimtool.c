/*
 * dkimtool: a command-line face of Raven's DKIM engines for interop tests
 * (tests/integ/test_dkim_interop.py) and by-hand checks. DNS answers come
 * from a file (dkim_fakedns.h formats); nothing touches the network.
 *
 *   dkimtool sign -k KEY -d DOMAIN -s SELECTOR [-t NOW] [-x SECS] [-c CHUNK] < msg
 *       prints the DKIM-Signature field, then the message
 *   dkimtool verify -D DNSFILE [-t NOW] [-c CHUNK] [-H] < msg
 *       one line per signature: "RESULT d=.. i=.. s=.. a=.. b=.. bits=.. reason=..";
 *       exit 0 if one passed, 1 if none did (-H: historic rsa-sha1, 512-bit keys)
 *   dkimtool keygen -a rsa|ed25519 [-b BITS] -o PEMFILE
 *       writes the private key, prints the TXT record to publish
 *   dkimtool pubtxt -k KEY
 *       prints the TXT record of a private key
 * -c CHUNK feeds the message CHUNK octets at a time (1: byte by byte);
 * -L turns bare LF line ends into CRLF first.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dkim.h"
#include "dkim_fakedns.h"
#include "util.h"
#include "xmalloc.h"

#define MSG_MAX (64 * 1024 * 1024)

static void usage(void)
{
	fprintf(stderr, "usage: dkimtool sign -k KEY -d DOMAIN -s SELECTOR [-t NOW] [-x SECS] "
	                "[-c CHUNK] [-L]\n"
	                "       dkimtool verify -D DNSFILE [-t NOW] [-c CHUNK] [-H] [-L]\n"
	                "       dkimtool keygen -a rsa|ed25519 [-b BITS] -o PEMFILE\n"
	                "       dkimtool pubtxt -k KEY\n");
	exit(2);
}

static char *read_stdin(size_t *len)
{
	size_t cap = 65536, n = 0;
	char *p = xmalloc(cap);
	for (;;) {
		if (n == cap) {
			if (cap >= MSG_MAX) {
				fprintf(stderr, "dkimtool: message too large\n");
				exit(2);
			}
			cap *= 2;
			p = xreallocarray(p, cap, 1);
		}
		ssize_t r = read(0, p + n, cap - n);
		if (r < 0) {
			perror("read");
			exit(2);
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return p;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	const char *cmd = argv[1], *key = NULL, *domain = NULL, *sel = NULL, *dnsfile = NULL;
	const char *alg = "ed25519", *out = NULL;
	long long now = (long long)time(NULL), expire = 0;
	size_t chunk = 0;
	unsigned bits = 0;
	int historic = 0, lf = 0, c;
	optind = 2;
	while ((c = getopt(argc, argv, "k:d:s:t:x:c:D:Ha:b:o:L")) != -1) {
		switch (c) {
		case 'k':
			key = optarg;
			break;
		case 'd':
			domain = optarg;
			break;
		case 's':
			sel = optarg;
			break;
		case 't':
			now = atoll(optarg);
			break;
		case 'x':
			expire = atoll(optarg);
			break;
		case 'c':
			chunk = (size_t)atol(optarg);
			break;
		case 'D':
			dnsfile = optarg;
			break;
		case 'H':
			historic = 1;
			break;
		case 'a':
			alg = optarg;
			break;
		case 'b':
			bits = (unsigned)atoi(optarg);
			break;
		case 'o':
			out = optarg;
			break;
		case 'L':
			lf = 1;
			break;
		default:
			usage();
		}
	}
	char err[256];
	if (strcmp(cmd, "keygen") == 0) {
		if (out == NULL)
			usage();
		char *pem, *txt;
		enum dkim_alg a =
		    strcmp(alg, "rsa") == 0 ? DKIM_ALG_RSA_SHA256 : DKIM_ALG_ED25519_SHA256;
		if (dkim_keygen(a, bits, &pem, &txt, err, sizeof(err)) == -1) {
			fprintf(stderr, "dkimtool: %s\n", err);
			return 1;
		}
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd == -1 || fd_write_all(fd, pem, strlen(pem)) == -1 || close(fd) == -1) {
			perror(out);
			return 1;
		}
		printf("%s\n", txt);
		free(pem);
		free(txt);
		return 0;
	}
	if (strcmp(cmd, "pubtxt") == 0) {
		struct dkim_key *k;
		if (key == NULL)
			usage();
		if (dkim_key_load(key, &k, err, sizeof(err)) == -1) {
			fprintf(stderr, "dkimtool: %s\n", err);
			return 1;
		}
		char *txt = dkim_key_dns_txt(k);
		printf("%s\n", txt);
		free(txt);
		dkim_key_free(k);
		return 0;
	}
	size_t len;
	char *msg = read_stdin(&len);
	if (lf) {
		size_t n;
		char *m = fakedns_crlf(msg, len, &n);
		free(msg);
		msg = m;
		len = n;
	}
	if (chunk == 0)
		chunk = len ? len : 1;
	if (strcmp(cmd, "sign") == 0) {
		if (key == NULL || domain == NULL || sel == NULL)
			usage();
		struct dkim_key *k;
		if (dkim_key_load(key, &k, err, sizeof(err)) == -1) {
			fprintf(stderr, "dkimtool: %s\n", err);
			return 1;
		}
		struct dkim_sign_opts o = {.now = now, .expire = expire};
		struct dkim_sign *s = dkim_sign_new(k, domain, sel, &o, err, sizeof(err));
		if (s == NULL) {
			fprintf(stderr, "dkimtool: %s\n", err);
			return 1;
		}
		for (size_t i = 0; i < len; i += chunk)
			dkim_sign_update(s, msg + i, len - i < chunk ? len - i : chunk);
		char *field;
		if (dkim_sign_finish(s, &field, err, sizeof(err)) == -1) {
			fprintf(stderr, "dkimtool: %s\n", err);
			return 1;
		}
		fwrite(field, 1, strlen(field), stdout);
		fwrite(msg, 1, len, stdout);
		free(field);
		dkim_sign_free(s);
		dkim_key_free(k);
		free(msg);
		return 0;
	}
	if (strcmp(cmd, "verify") != 0 || dnsfile == NULL)
		usage();
	struct fakedns dns;
	fakedns_init(&dns);
	if (fakedns_load_file(&dns, dnsfile) == -1) {
		perror(dnsfile);
		return 2;
	}
	struct dkim_verify_opts o = {
	    .now = now, .allow_rsa_sha1 = historic, .min_rsa_bits = historic ? 512 : 0};
	struct dkim_verify *v = dkim_verify_new(&o);
	for (size_t i = 0; i < len; i += chunk)
		dkim_verify_update(v, msg + i, len - i < chunk ? len - i : chunk);
	dkim_verify_end(v);
	fakedns_answer_keys(&dns, v);
	if (!dkim_verify_done(v)) {
		fprintf(stderr, "dkimtool: verifier not done\n");
		return 2;
	}
	int pass = 0;
	for (size_t i = 0; i < dkim_verify_result_count(v); i++) {
		const struct dkim_result *r = dkim_verify_result(v, i);
		pass |= r->status == DKIM_PASS;
		printf("%s d=%s i=%s s=%s a=%s b=%s bits=%u reason=%s\n",
		       dkim_status_name(r->status), r->domain, r->identity, r->selector,
		       dkim_alg_name(r->alg), r->b8, r->key_bits, r->reason);
	}
	if (dkim_verify_result_count(v) == 0)
		printf("none\n");
	dkim_verify_free(v);
	fakedns_free(&dns);
	free(msg);
	return pass ? 0 : 1;
}
