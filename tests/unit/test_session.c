/*
 * Session tests: golden transcripts (tests/unit/transcripts/ *.txt files) replayed
 * against the real smtp server code with a fake queue — once a line at a
 * time, once as one pipelined stream fed a byte at a time — and both must
 * give exactly the expected replies.
 *
 * Transcript format: "> text" client line (CRLF added); "raw> text" client
 * bytes with \r \n \\ escapes and no CRLF added; "< prefix" the next reply
 * line starts with prefix; "tls>" the client starts TLS at this point
 * (after the server's 220 to STARTTLS); "= commits N", "= aborts N",
 * "= closed" checked at the end; '#' comments.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session_harness.h"
#include "unit_util.h"
#include "xmalloc.h"

struct transcript {
	struct buf client;  /* all client bytes */
	size_t *chunk_ends; /* end offset of each client line */
	int *tls_after;     /* the client starts TLS after this chunk */
	size_t n_chunks;
	char **expect;
	size_t n_expect;
	long commits, aborts;
	int closed;
};

static void unescape_into(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' && s[1]) {
			s++;
			buf_append_byte(b, *s == 'r' ? '\r' : *s == 'n' ? '\n' : (uint8_t)*s);
		} else {
			buf_append_byte(b, (uint8_t)*s);
		}
	}
}

static void transcript_load(const char *path, struct transcript *t)
{
	size_t len;
	char *text = unit_read_file(path, &len);
	assert_non_null(text);
	memset(t, 0, sizeof(*t));
	buf_init(&t->client, 0);
	t->commits = t->aborts = -1;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (strcmp(line, ">") == 0 || strncmp(line, "> ", 2) == 0) {
			buf_append_str(&t->client,
			               line[1] ? line + 2 : ""); /* ">" alone: empty line */
			buf_append_str(&t->client, "\r\n");
		} else if (strncmp(line, "raw> ", 5) == 0) {
			unescape_into(&t->client, line + 5);
		} else if (strncmp(line, "< ", 2) == 0) {
			t->expect = xreallocarray(t->expect, t->n_expect + 1, sizeof(char *));
			t->expect[t->n_expect++] = xstrdup(line + 2);
			continue;
		} else if (sscanf(line, "= commits %ld", &t->commits) == 1 ||
		           sscanf(line, "= aborts %ld", &t->aborts) == 1) {
			continue;
		} else if (strcmp(line, "= closed") == 0) {
			t->closed = 1;
			continue;
		} else if (strcmp(line, "tls>") == 0) {
			if (t->n_chunks == 0)
				fail_msg("%s: tls> before any client line", path);
			t->tls_after[t->n_chunks - 1] = 1;
			continue;
		} else {
			fail_msg("%s: bad transcript line: %s", path, line);
		}
		t->chunk_ends = xreallocarray(t->chunk_ends, t->n_chunks + 1, sizeof(size_t));
		t->tls_after = xreallocarray(t->tls_after, t->n_chunks + 1, sizeof(int));
		t->tls_after[t->n_chunks] = 0;
		t->chunk_ends[t->n_chunks++] = t->client.len;
	}
	free(text);
}

static void transcript_free(struct transcript *t)
{
	for (size_t i = 0; i < t->n_expect; i++)
		free(t->expect[i]);
	free(t->expect);
	free(t->chunk_ends);
	free(t->tls_after);
	buf_free(&t->client);
}

static void check_replies(const char *path, const char *mode, struct harness *h,
                          const struct transcript *t)
{
	char *all = buf_strdup(&h->replies);
	char *save = NULL;
	size_t i = 0;
	for (char *line = strtok_r(all, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save), i++) {
		size_t n = strlen(line);
		if (n == 0 || line[n - 1] != '\r')
			fail_msg("%s (%s): reply without CRLF: %s", path, mode, line);
		line[n - 1] = '\0';
		if (i >= t->n_expect)
			fail_msg("%s (%s): unexpected extra reply: %s", path, mode, line);
		if (strncmp(line, t->expect[i], strlen(t->expect[i])) != 0)
			fail_msg("%s (%s): reply %zu is \"%s\", expected \"%s...\"", path, mode,
			         i + 1, line, t->expect[i]);
	}
	if (i != t->n_expect)
		fail_msg("%s (%s): %zu replies, expected %zu (next: %s)", path, mode, i,
		         t->n_expect, t->expect[i]);
	free(all);
	if (t->commits >= 0 && (long)h->commits != t->commits)
		fail_msg("%s (%s): %zu commits, expected %ld", path, mode, h->commits, t->commits);
	if (t->aborts >= 0 && (long)h->aborts != t->aborts)
		fail_msg("%s (%s): %zu aborts, expected %ld", path, mode, h->aborts, t->aborts);
	if (t->closed && !harness_closed(h))
		fail_msg("%s (%s): connection still open", path, mode);
}

/*
 * The built-in default, plus credentials for transcripts that use AUTH
 * (their name starts with "auth"): the harness's fake auth role decides,
 * but the session offers AUTH only when a table is configured.
 */
static struct config *transcript_config(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (strncmp(base, "auth", 4) != 0)
		return NULL;
	static const char text[] = "hostname \"mx.test.example\"\n"
	                           "listen on 127.0.0.1 port 2525\n"
	                           "table domains { \"localhost\", \"example.org\" }\n"
	                           "limits errors 50\n"
	                           "table passwd { \"alice\" }\n"
	                           "auth users <passwd>\n"
	                           "action \"local\" maildir \"/tmp/m/%{user}\"\n"
	                           "match from any for domain <domains> action \"local\"\n"
	                           "match from auth for domain \"auth-only.example\" "
	                           "action \"local\"\n";
	char err[256];
	struct config *c = conf_parse_string("auth.conf", text, sizeof(text) - 1, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	return c;
}

static void replay(const char *path)
{
	struct transcript t;
	transcript_load(path, &t);
	/* Line at a time, as an interactive client. */
	struct harness *h = harness_new(transcript_config(path));
	size_t start = 0;
	for (size_t i = 0; i < t.n_chunks; i++) {
		harness_send(h, t.client.data + start, t.chunk_ends[i] - start);
		start = t.chunk_ends[i];
		if (t.tls_after[i] && harness_starttls(h) == -1)
			fail_msg("%s: TLS handshake failed", path);
	}
	check_replies(path, "line at a time", h, &t);
	harness_free(h);
	/* Everything pipelined (up to each TLS start), arriving a byte at a time. */
	h = harness_new(transcript_config(path));
	start = 0;
	for (size_t i = 0; i < t.n_chunks; i++) {
		for (size_t k = start; k < t.chunk_ends[i]; k++)
			harness_send(h, t.client.data + k, 1);
		start = t.chunk_ends[i];
		if (t.tls_after[i] && harness_starttls(h) == -1)
			fail_msg("%s: TLS handshake failed (byte at a time)", path);
	}
	check_replies(path, "byte at a time", h, &t);
	harness_free(h);
	transcript_free(&t);
}

static void test_transcripts(void **state)
{
	(void)state;
	const char *dir = UNIT_SOURCE_DIR "/transcripts";
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	size_t n = 0;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 4, ".txt") != 0)
			continue;
		char *path = xasprintf("%s/%s", dir, de->d_name);
		print_message("# transcript %s\n", de->d_name);
		replay(path);
		free(path);
		n++;
	}
	closedir(d);
	assert_true(n >= 5);
}

static void test_data_reaches_spool(void **state)
{
	(void)state;
	struct harness *h = harness_new(NULL);
	const char *s = "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@localhost>\r\n"
	                "DATA\r\nSubject: x\r\n\r\n..dot\r\nbody\r\n.\r\n";
	harness_send(h, s, strlen(s));
	assert_int_equal(h->commits, 1);
	assert_string_equal(h->last_sender, "a@b.example");
	assert_int_equal(h->last_rcpts, 1);
	char *data = buf_strdup(&h->last_data);
	/* Our Received: header first, then the message unstuffed, CRLF kept. */
	assert_true(strncmp(data, "Received: from c.example ([192.0.2.1])\r\n", 40) == 0);
	assert_non_null(strstr(data, "\r\nSubject: x\r\n\r\n.dot\r\nbody\r\n"));
	assert_null(strstr(data, "\r\n.\r\n"));
	assert_non_null(strstr(data, " id T000001\r\n\tfor <alice@localhost>;"));
	free(data);
	harness_free(h);
}

static void send_str(struct harness *h, const char *s)
{
	harness_send(h, s, strlen(s));
}

/* Everything the server sent after the first occurrence of mark. */
static const char *after(struct harness *h, const char *mark)
{
	buf_append_byte(&h->replies, 0);
	h->replies.len--;
	const char *p = strstr((const char *)h->replies.data, mark);
	assert_non_null(p);
	return p + strlen(mark);
}

/*
 * CVE-2011-0411: commands pipelined behind STARTTLS in plaintext are never
 * executed, before or after the handshake; the first reply after it
 * answers what the client sent over TLS.
 */
static void test_starttls_injection(void **state)
{
	(void)state;
	static const char *const injected[] = {"RSET\r\n", "MAIL FROM:<a@b.example>\r\n",
	                                       "EHLO evil.example\r\nMAIL FROM:<a@b.example>\r\n"};
	for (size_t i = 0; i < sizeof(injected) / sizeof(injected[0]); i++) {
		struct harness *h = harness_new(NULL);
		send_str(h, "EHLO client.example\r\n");
		char *one = xasprintf("STARTTLS\r\n%s", injected[i]);
		send_str(h, one); /* one write: one packet */
		free(one);
		const char *rest = after(h, "220 2.0.0 Ready to start TLS\r\n");
		assert_string_equal(rest, ""); /* nothing answered the injected lines */
		assert_int_equal(harness_starttls(h), 0);
		send_str(h, "NOOP\r\n");
		send_str(h, "RCPT TO:<alice@localhost>\r\n");
		rest = after(h, "220 2.0.0 Ready to start TLS\r\n");
		/* Exactly the replies to NOOP and RCPT: no MAIL, no EHLO carried over. */
		assert_string_equal(rest, "250 2.0.0 Ok\r\n503 5.5.1 Send HELO/EHLO first\r\n");
		send_str(h, "EHLO client.example\r\nRCPT TO:<alice@localhost>\r\n");
		assert_non_null(strstr(after(h, "Send HELO/EHLO first\r\n"),
		                       "503 5.5.1 Need MAIL command first\r\n"));
		assert_int_equal(h->commits, 0);
		harness_free(h);
	}
}

static struct config *auth_config(const char *extra)
{
	char *text = xasprintf("hostname \"mx.test.example\"\n"
	                       "listen on 127.0.0.1 port 2525\n"
	                       "table domains { \"localhost\", \"example.org\" }\n"
	                       "table passwd { \"alice\" }\n"
	                       "auth users <passwd>\n"
	                       "action \"local\" maildir \"/tmp/m/%%{user}\"\n"
	                       "match from any for domain <domains> action \"local\"\n%s",
	                       extra);
	char err[256];
	struct config *c = conf_parse_string("auth.conf", text, strlen(text), err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	free(text);
	return c;
}

/* Received: names the protocol (RFC 3848) and the TLS parameters. */
static void test_received_tls_auth(void **state)
{
	(void)state;
	static const char msg[] = "MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@localhost>\r\n"
	                          "DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n";
	struct harness *h = harness_new(auth_config(""));
	send_str(h, "EHLO client.example\r\n");
	send_str(h, msg);
	assert_int_equal(h->commits, 1);
	char *d = buf_strdup(&h->last_data);
	assert_non_null(strstr(d, "(Raven) with ESMTP id"));
	assert_null(strstr(d, "(using"));
	free(d);
	send_str(h, "STARTTLS\r\n");
	assert_int_equal(harness_starttls(h), 0);
	send_str(h, "EHLO client.example\r\n");
	send_str(h, msg);
	assert_int_equal(h->commits, 2);
	d = buf_strdup(&h->last_data);
	assert_non_null(strstr(d, "\r\n\t(using TLSv1.3 with cipher TLS_"));
	assert_non_null(strstr(d, "(Raven) with ESMTPS id"));
	free(d);
	send_str(h, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
	assert_int_equal(h->auths, 1);
	assert_string_equal(h->last_login, "alice");
	assert_string_equal(h->last_client, "192.0.2.1");
	send_str(h, msg);
	assert_int_equal(h->commits, 3);
	d = buf_strdup(&h->last_data);
	assert_non_null(strstr(d, "(Raven) with ESMTPSA id"));
	free(d);
	harness_free(h);
}

/* An implicit-TLS listener greets only once the handshake is done, and a
 * client speaking plaintext to it is dropped. */
static void test_implicit_tls(void **state)
{
	(void)state;
	struct listener l = {.addr = "127.0.0.1", .port = 465, .tls = 1, .submission = 1};
	struct harness_opts o = {.listener = &l};
	struct harness *h = harness_new_opts(auth_config(""), &o);
	assert_int_equal(h->replies.len, 0);
	assert_int_equal(harness_starttls(h), 0);
	assert_true(h->replies.len > 4);
	assert_memory_equal(h->replies.data, "220 ", 4);
	send_str(h, "EHLO client.example\r\n");
	const char *ehlo = after(h, "\r\n250-");
	assert_non_null(strstr(ehlo, "250-AUTH PLAIN LOGIN\r\n"));
	assert_null(strstr(ehlo, "STARTTLS"));
	send_str(h, "STARTTLS\r\n");
	assert_non_null(
	    strstr(after(h, "ENHANCEDSTATUSCODES\r\n"), "503 5.5.1 TLS already active"));
	/* submission: AUTH before MAIL */
	send_str(h, "MAIL FROM:<alice@example.org>\r\n");
	assert_non_null(
	    strstr(after(h, "TLS already active\r\n"), "530 5.7.0 Authentication required\r\n"));
	send_str(h, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nMAIL FROM:<alice@example.org>\r\n");
	assert_string_equal(after(h, "Authentication required\r\n"),
	                    "235 2.7.0 Authentication successful\r\n250 2.1.0 Ok\r\n");
	harness_free(h);

	h = harness_new_opts(NULL, &o);
	send_str(h, "EHLO client.example\r\n");
	assert_true(harness_closed(h));
	assert_int_equal(h->replies.len, 0);
	harness_free(h);
}

/* A line of an exchange over the command-line limit ends the exchange. */
static void test_auth_line_too_long(void **state)
{
	(void)state;
	struct listener l = {.addr = "127.0.0.1", .port = 2587, .plaintext_auth = 1};
	struct harness_opts o = {.listener = &l};
	struct harness *h = harness_new_opts(auth_config(""), &o);
	send_str(h, "EHLO client.example\r\nAUTH PLAIN\r\n");
	char *line = xmalloc(5000);
	memset(line, 'A', 4096);
	memcpy(line + 4096, "\r\nNOOP\r\n", 9);
	line[4096 + 8] = '\0';
	send_str(h, line);
	free(line);
	assert_string_equal(after(h, "334 \r\n"),
	                    "500 5.5.6 Authentication Exchange line is too long\r\n"
	                    "250 2.0.0 Ok\r\n");
	harness_free(h);
}

/* What a session counts (metrics.h) reaches the queue as COUNTERS frames. */
static void test_counted(void **state)
{
	(void)state;
	struct harness *h = harness_new(NULL);
	const char *s = "EHLO c.example\r\n"
	                "MAIL FROM:<a@b.example> SIZE=999999999999\r\n"
	                "MAIL FROM:<a@b.example>\r\n"
	                "RCPT TO:<x@elsewhere.example>\r\n"
	                "RCPT TO:<alice@localhost>\r\n"
	                "RCPT TO:<bob@localhost>\r\n"
	                "DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n"
	                "MAIL FROM:<a@b.example>\r\n"
	                "RCPT TO:<alice@localhost>\r\n"
	                "DATA\r\nSubject: y\r\n\r\nbare\nLF\r\n.\r\n";
	harness_send(h, s, strlen(s));
	harness_counters(h);
	assert_int_equal(h->commits, 1);
	assert_non_null(strstr((const char *)h->replies.data, "\r\n550 5.6.0 "));
	assert_int_equal(h->counted[MET_SMTP_CONN_ACCEPTED], 1);
	assert_int_equal(h->counted[MET_SMTP_SESSIONS], 1);
	assert_int_equal(h->counted[MET_SMTP_MSG_REFUSED_SIZE], 1);
	assert_int_equal(h->counted[MET_SMTP_RCPT_RELAY_DENIED], 1);
	assert_int_equal(h->counted[MET_SMTP_RCPT_ACCEPTED], 3);
	assert_int_equal(h->counted[MET_SMTP_MSG_ACCEPTED], 1);
	assert_int_equal(h->counted[MET_SMTP_MSG_BYTES], h->last_data.len);
	assert_int_equal(h->counted[MET_SMTP_MSG_REFUSED_CONTENT], 1);
	assert_int_equal(h->counted[MET_SMTP_RCPT_UNKNOWN_USER], 0);
	harness_send(h, "QUIT\r\n", 6);
	harness_counters(h);
	assert_true(harness_closed(h));
	assert_int_equal(h->counted[MET_SMTP_SESSIONS], 0);
	harness_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_transcripts),
	    cmocka_unit_test(test_data_reaches_spool),
	    cmocka_unit_test(test_starttls_injection),
	    cmocka_unit_test(test_received_tls_auth),
	    cmocka_unit_test(test_implicit_tls),
	    cmocka_unit_test(test_auth_line_too_long),
	    cmocka_unit_test(test_counted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
