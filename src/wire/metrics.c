/* metrics: the catalog of what Raven counts and its frames (see metrics.h). */
#include "metrics.h"

#include <string.h>

#define C PROM_COUNTER
#define G PROM_GAUGE

static const char conn_refused[] = "SMTP connections refused before the greeting, by reason "
                                   "(limit: limits connections; per_ip: limits per-ip)";
static const char cut[] = "SMTP sessions the server closed with 421, by reason (timeout: "
                          "idle; errors: limits errors; slow_data: limits data-rate; "
                          "deadline: timeout session)";
static const char msg_refused[] =
    "Messages refused at or after DATA, by reason (size: limits message-size, at MAIL "
    "SIZE= or while reading; loop: limits hops; content: bare CR or LF, or a line over "
    "limits text-line; tempfail: 451/452, the spool could not take it)";
static const char rcpt_refused[] =
    "Recipients refused at RCPT, by reason (unknown_user: 550 5.1.1; relay_denied: 550 "
    "5.7.1; too_many: 452 4.5.3; routing: 550 5.3.0, e.g. an alias loop; tempfail: 451 "
    "4.3.0)";
static const char relay_tls[] = "STARTTLS handshakes of outbound connections, by result "
                                "(verified or unverified certificate, or failed)";
static const char deliveries[] =
    "Delivery attempts by destination (local: Maildir; relay: another host) and outcome "
    "(delivered; deferred: a temporary failure, retried; bounced: a permanent failure or "
    "an expiry)";
static const char dsn[] = "Delivery status notifications (RFC 3464) queued to senders, by kind";
static const char rcpts[] = "Recipients in the queue, by state (pending: due or being "
                            "delivered; deferred: waiting to be retried; held: by ravenctl hold)";

static const struct metric_def defs[MET_COUNT] = {
    [MET_SMTP_CONN_ACCEPTED] = {PEER_SMTP, C, "raven_smtp_connections_accepted_total", NULL,
                                "SMTP connections accepted (greeted)"},
    [MET_SMTP_CONN_REFUSED_LIMIT] = {PEER_SMTP, C, "raven_smtp_connections_refused_total",
                                     "reason=\"limit\"", conn_refused},
    [MET_SMTP_CONN_REFUSED_PER_IP] = {PEER_SMTP, C, "raven_smtp_connections_refused_total",
                                      "reason=\"per_ip\"", conn_refused},
    [MET_SMTP_SESSIONS] = {PEER_SMTP, G, "raven_smtp_connections", NULL, "SMTP sessions open now"},
    [MET_SMTP_CUT_TIMEOUT] = {PEER_SMTP, C, "raven_smtp_sessions_cut_total", "reason=\"timeout\"",
                              cut},
    [MET_SMTP_CUT_ERRORS] = {PEER_SMTP, C, "raven_smtp_sessions_cut_total", "reason=\"errors\"",
                             cut},
    [MET_SMTP_CUT_SLOW_DATA] = {PEER_SMTP, C, "raven_smtp_sessions_cut_total",
                                "reason=\"slow_data\"", cut},
    [MET_SMTP_CUT_DEADLINE] = {PEER_SMTP, C, "raven_smtp_sessions_cut_total", "reason=\"deadline\"",
                               cut},
    [MET_SMTP_MSG_ACCEPTED] = {PEER_SMTP, C, "raven_smtp_messages_accepted_total", NULL,
                               "Messages accepted (250 after DATA: durable in the spool)"},
    [MET_SMTP_MSG_BYTES] = {PEER_SMTP, C, "raven_smtp_message_bytes_total", NULL,
                            "Octets of the messages accepted, as spooled (Received: included)"},
    [MET_SMTP_MSG_REFUSED_SIZE] = {PEER_SMTP, C, "raven_smtp_messages_refused_total",
                                   "reason=\"size\"", msg_refused},
    [MET_SMTP_MSG_REFUSED_LOOP] = {PEER_SMTP, C, "raven_smtp_messages_refused_total",
                                   "reason=\"loop\"", msg_refused},
    [MET_SMTP_MSG_REFUSED_CONTENT] = {PEER_SMTP, C, "raven_smtp_messages_refused_total",
                                      "reason=\"content\"", msg_refused},
    [MET_SMTP_MSG_REFUSED_TEMPFAIL] = {PEER_SMTP, C, "raven_smtp_messages_refused_total",
                                       "reason=\"tempfail\"", msg_refused},
    [MET_SMTP_RCPT_ACCEPTED] = {PEER_SMTP, C, "raven_smtp_recipients_accepted_total", NULL,
                                "Recipients accepted at RCPT (250)"},
    [MET_SMTP_RCPT_UNKNOWN_USER] = {PEER_SMTP, C, "raven_smtp_recipients_refused_total",
                                    "reason=\"unknown_user\"", rcpt_refused},
    [MET_SMTP_RCPT_RELAY_DENIED] = {PEER_SMTP, C, "raven_smtp_recipients_refused_total",
                                    "reason=\"relay_denied\"", rcpt_refused},
    [MET_SMTP_RCPT_TOO_MANY] = {PEER_SMTP, C, "raven_smtp_recipients_refused_total",
                                "reason=\"too_many\"", rcpt_refused},
    [MET_SMTP_RCPT_ROUTING] = {PEER_SMTP, C, "raven_smtp_recipients_refused_total",
                               "reason=\"routing\"", rcpt_refused},
    [MET_SMTP_RCPT_TEMPFAIL] = {PEER_SMTP, C, "raven_smtp_recipients_refused_total",
                                "reason=\"tempfail\"", rcpt_refused},
    [MET_LOCAL_SYNCS] = {PEER_LOCAL, C, "raven_local_syncs_total", NULL,
                         "File-system syncs that made batches of Maildir deliveries durable"},
    [MET_LOCAL_REFUSED] = {PEER_LOCAL, C, "raven_local_deliveries_refused_total", NULL,
                           "Deliveries the local role refused after checking the request "
                           "against its own configuration"},
    [MET_RELAY_CONNECTED] = {PEER_RELAY, C, "raven_relay_connections_total", "result=\"connected\"",
                             "Outbound TCP connections, by result (connected or failed)"},
    [MET_RELAY_CONNECT_FAILED] = {PEER_RELAY, C, "raven_relay_connections_total",
                                  "result=\"failed\"",
                                  "Outbound TCP connections, by result (connected or failed)"},
    [MET_RELAY_TLS_VERIFIED] = {PEER_RELAY, C, "raven_relay_tls_total", "result=\"verified\"",
                                relay_tls},
    [MET_RELAY_TLS_UNVERIFIED] = {PEER_RELAY, C, "raven_relay_tls_total", "result=\"unverified\"",
                                  relay_tls},
    [MET_RELAY_TLS_FAILED] = {PEER_RELAY, C, "raven_relay_tls_total", "result=\"failed\"",
                              relay_tls},
    [MET_DELIVERED_LOCAL] = {0, C, "raven_deliveries_total",
                             "destination=\"local\",outcome=\"delivered\"", deliveries},
    [MET_DELIVERED_RELAY] = {0, C, "raven_deliveries_total",
                             "destination=\"relay\",outcome=\"delivered\"", deliveries},
    [MET_DEFERRED_LOCAL] = {0, C, "raven_deliveries_total",
                            "destination=\"local\",outcome=\"deferred\"", deliveries},
    [MET_DEFERRED_RELAY] = {0, C, "raven_deliveries_total",
                            "destination=\"relay\",outcome=\"deferred\"", deliveries},
    [MET_BOUNCED_LOCAL] = {0, C, "raven_deliveries_total",
                           "destination=\"local\",outcome=\"bounced\"", deliveries},
    [MET_BOUNCED_RELAY] = {0, C, "raven_deliveries_total",
                           "destination=\"relay\",outcome=\"bounced\"", deliveries},
    [MET_DSN_FAILURE] = {0, C, "raven_dsn_sent_total", "kind=\"failure\"", dsn},
    [MET_DSN_DELAY] = {0, C, "raven_dsn_sent_total", "kind=\"delay\"", dsn},
    [MET_DSN_SUCCESS] = {0, C, "raven_dsn_sent_total", "kind=\"success\"", dsn},
    [MET_QUEUE_COMMITTED] = {0, C, "raven_queue_messages_committed_total", NULL,
                             "Messages made durable in the spool (received ones and notices)"},
    [MET_QUEUE_PEERS_DROPPED] = {0, C, "raven_queue_peers_dropped_total", NULL,
                                 "Role channels the queue closed for a frame it refused"},
    [MET_QUEUE_MESSAGES] = {0, G, "raven_queue_messages", NULL, "Messages in the queue"},
    [MET_QUEUE_RCPT_PENDING] = {0, G, "raven_queue_recipients", "state=\"pending\"", rcpts},
    [MET_QUEUE_RCPT_DEFERRED] = {0, G, "raven_queue_recipients", "state=\"deferred\"", rcpts},
    [MET_QUEUE_RCPT_HELD] = {0, G, "raven_queue_recipients", "state=\"held\"", rcpts},
    [MET_QUEUE_IN_FLIGHT] = {0, G, "raven_queue_deliveries_in_flight", NULL,
                             "Deliveries handed to the local and relay roles, not answered yet"},
};

#undef C
#undef G

const struct metric_def *metric_def(enum metric_id id)
{
	return &defs[id];
}

const char *metrics_peer_name(enum peer_kind k)
{
	switch (k) {
	case PEER_SMTP:
		return "smtp";
	case PEER_LOCAL:
		return "local";
	case PEER_RELAY:
		return "relay";
	case PEER_AUTH:
		return "auth";
	case PEER_PICKUP:
		return "pickup";
	case PEER_METRICS:
		return "metrics";
	case PEER_DNS:
		return "dns";
	case PEER_DKIM:
		return "dkim";
	case PEER_LOOKUP:
		return "lookup";
	}
	return "?";
}

void metrics_encode_counters(struct buf *b, const struct metric_values *mv)
{
	uint32_t n = 0;
	for (size_t i = 0; i < MET_COUNT; i++)
		n += mv->set[i] != 0;
	buf_put_u32(b, n);
	for (uint32_t i = 0; i < MET_COUNT; i++) {
		if (!mv->set[i])
			continue;
		buf_put_u32(b, i);
		buf_put_u64(b, mv->v[i]);
	}
}

int metrics_decode_counters(const uint8_t *p, size_t n, enum peer_kind from,
                            struct metric_values *out)
{
	struct reader r;
	uint32_t count = 0;
	memset(out, 0, sizeof(*out));
	reader_init(&r, p, n);
	if (reader_u32(&r, &count) == -1 || count == 0 || count > MET_COUNT)
		return -1;
	int64_t last = -1;
	for (uint32_t k = 0; k < count; k++) {
		uint32_t id;
		uint64_t v;
		if (reader_u32(&r, &id) == -1 || reader_u64(&r, &v) == -1 || id >= MET_COUNT ||
		    (int64_t)id <= last || defs[id].owner != from || from == 0)
			goto bad;
		last = id;
		out->v[id] = v;
		out->set[id] = 1;
	}
	if (reader_done(&r) == 0)
		return 0;
bad:
	memset(out, 0, sizeof(*out));
	return -1;
}

void metrics_encode_text(struct buf *b, uint64_t req, const void *text, size_t len)
{
	buf_put_u64(b, req);
	buf_put_bytes(b, text, len);
}

int metrics_decode_text(const uint8_t *p, size_t n, uint64_t *req, const uint8_t **text,
                        size_t *len)
{
	struct reader r;
	reader_init(&r, p, n);
	if (reader_u64(&r, req) == -1 || reader_bytes(&r, text, len, n) == -1 ||
	    reader_done(&r) == -1)
		return -1;
	return 0;
}

void metrics_encode_starts(struct buf *b, const struct role_starts *s)
{
	buf_put_u64(b, (uint64_t)s->started);
	buf_put_u32(b, (uint32_t)s->n);
	for (size_t i = 0; i < s->n; i++) {
		buf_put_str(b, s->role[i].name);
		buf_put_u64(b, s->role[i].starts);
	}
}

static int role_name_ok(const uint8_t *s, size_t len)
{
	if (len == 0 || len > METRICS_ROLE_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

int metrics_decode_starts(const uint8_t *p, size_t n, struct role_starts *out)
{
	struct reader r;
	uint64_t started;
	uint32_t count;
	memset(out, 0, sizeof(*out));
	reader_init(&r, p, n);
	if (reader_u64(&r, &started) == -1 || reader_u32(&r, &count) == -1 ||
	    count > METRICS_ROLES_MAX)
		return -1;
	out->started = (int64_t)started;
	for (uint32_t k = 0; k < count; k++) {
		const uint8_t *name;
		size_t len;
		if (reader_bytes(&r, &name, &len, METRICS_ROLE_NAME_MAX) == -1 ||
		    !role_name_ok(name, len) || reader_u64(&r, &out->role[k].starts) == -1)
			goto bad;
		memcpy(out->role[k].name, name, len);
		out->role[k].name[len] = '\0';
		for (uint32_t j = 0; j < k; j++)
			if (strcmp(out->role[j].name, out->role[k].name) == 0)
				goto bad;
		out->n = k + 1;
	}
	if (reader_done(&r) == 0)
		return 0;
bad:
	memset(out, 0, sizeof(*out));
	return -1;
}
