/*
 * Whole-session fuzzer: arbitrary client bytes into the real smtp server
 * code (session state machine, command table, parsers, DATA reader, the
 * STARTTLS and AUTH states) with a fake queue — which also plays the auth
 * role (alice / secret) — behind it. The first input byte picks how the
 * stream is cut into writes, so resumption at every boundary gets
 * exercised (its low four bits: the write size), and the listener (the
 * next two bits):
 *   0: the built-in default (port 25, no AUTH configured)
 *   1: credentials configured, port 25
 *   2: credentials configured, submission with plaintext-auth
 *   3: credentials configured, implicit-TLS submission
 * Whenever the server says "220 2.0.0 Ready to start TLS" the client does
 * a real TLS handshake and the rest of the input goes through it; bytes
 * that followed STARTTLS in the same write are the injection the server
 * must discard.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "session_harness.h"
#include "tls_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char auth_conf[] = "hostname \"mx.fuzz.example\"\n"
                                "listen on 127.0.0.1 port 2525\n"
                                "table domains { \"localhost\", \"example.org\" }\n"
                                "table passwd { \"alice\" }\n"
                                "table senders { \"alice\" = \"alice@example.org, @localhost\" }\n"
                                "auth users <passwd>\n"
                                "auth senders <senders>\n"
                                "action \"local\" maildir \"/tmp/m/%{user}\"\n"
                                "match from any for domain <domains> action \"local\"\n"
                                "match from auth for domain \"auth.example\" action \"local\"\n";

static int tls_asked(const struct harness *h)
{
	static const char ready[] = "220 2.0.0 Ready to start TLS\r\n";
	const uint8_t *r = h->replies.data;
	size_t n = h->replies.len;
	for (size_t i = 0; n >= sizeof(ready) - 1 && i <= n - (sizeof(ready) - 1); i++)
		if (memcmp(r + i, ready, sizeof(ready) - 1) == 0)
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Made once: a fresh key pair per input would be most of the work. */
	static struct tls_server *tls;
	if (tls == NULL) {
		char err[256];
		log_init("fuzz", 0);
		tls = tls_server_new(NULL, 0, "mx.fuzz.example", err, sizeof(err));
		if (tls == NULL)
			abort();
	}
	if (size < 1)
		return 0;
	size_t chunk = (size_t)(data[0] % 16) + 1;
	unsigned variant = (data[0] / 16) % 4;
	data++;
	size--;
	struct listener l = {.addr = "127.0.0.1", .port = 2525};
	l.submission = variant >= 2;
	l.plaintext_auth = variant == 2;
	l.tls = variant == 3;
	struct config *conf = NULL;
	if (variant > 0) {
		char err[256];
		conf = conf_parse_string("fuzz.conf", auth_conf, sizeof(auth_conf) - 1, err,
		                         sizeof(err));
		if (conf == NULL)
			abort();
	}
	struct harness_opts o = {.listener = &l, .tls = tls};
	struct harness *h = harness_new_opts(conf, &o);
	int tls_on = 0;
	if (l.tls) {
		if (harness_starttls(h) == -1)
			abort(); /* our own client and server must agree */
		tls_on = 1;
	}
	for (size_t off = 0; off < size && !harness_closed(h); off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		harness_send(h, data + off, n);
		if (!tls_on && tls_asked(h)) {
			tls_on = 1;
			/* A handshake the server refuses (it read injected bytes as
			 * TLS records) ends the session: that is a correct outcome. */
			if (harness_starttls(h) == -1)
				break;
		}
	}
	/* Every reply line the server wrote must be a complete, coded line. */
	for (size_t i = 0, start = 0; i < h->replies.len; i++) {
		if (h->replies.data[i] != '\n')
			continue;
		if (i - start < 5 || h->replies.data[i - 1] != '\r' ||
		    h->replies.data[start] < '2' || h->replies.data[start] > '5')
			abort();
		start = i + 1;
	}
	harness_free(h);
	return 0;
}
