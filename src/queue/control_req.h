/*
 * control_req: the request of the control socket (ravenctl <-> queue role).
 * A request is one line of at most CONTROL_REQ_MAX octets including its LF:
 *
 *   VERB [ID] [--json]            tokens separated by exactly one SP
 *   stats --prometheus            the metrics as Prometheus text
 *
 * VERB is one of status, queue, show, flush, remove, hold, release, stats, reload;
 * show/remove/hold/release need an ID, flush takes one optionally, the others
 * none; ID must satisfy envelope_id_valid(); "--json" may stand anywhere after
 * the verb, once. A CR before the LF is tolerated (for hand-typed requests).
 *
 * Everything here is pure: the line reader, the parser and the escapers used
 * to render untrusted text (addresses, remote errors, headers) as JSON or as
 * terminal-safe text.
 */
#ifndef RAVEN_CONTROL_REQ_H
#define RAVEN_CONTROL_REQ_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "envelope.h"

#define CONTROL_REQ_MAX 1024 /* octets, LF included */

enum control_verb {
	CTL_QUEUE = 1,
	CTL_SHOW,
	CTL_FLUSH,
	CTL_REMOVE,
	CTL_HOLD,
	CTL_RELEASE,
	CTL_STATS,
	CTL_RELOAD,
	CTL_STATUS,
};

struct control_req {
	enum control_verb verb;
	char id[ENVELOPE_ID_MAX + 1]; /* "" when absent */
	int json;
	int prometheus; /* stats only; not with json */
};

/* Accumulates one request line from a byte stream fed in any pieces. */
struct control_reader {
	char line[CONTROL_REQ_MAX]; /* without the LF; NUL-terminated once done */
	size_t len;
	int overflow;
	int done;
};

enum control_read { CONTROL_READ_MORE = 0, CONTROL_READ_LINE, CONTROL_READ_TOO_LONG };

void control_reader_init(struct control_reader *r);
/*
 * Feed n bytes. *used gets how many were consumed: all of them while MORE,
 * up to and including the LF for LINE (r->line, r->len hold the line without
 * the LF), up to the first byte past the limit for TOO_LONG. After LINE or
 * TOO_LONG the reader is done; feeding it again returns the same result and
 * consumes nothing.
 */
enum control_read control_reader_feed(struct control_reader *r, const uint8_t *p, size_t n,
                                      size_t *used);

/* Parse one line (without its LF). 0, or -1 with a reason in err. */
int control_req_parse(const char *line, size_t len, struct control_req *req, char *err,
                      size_t errlen);

/* "queue", "show", ... for a valid verb; "?" otherwise. */
const char *control_verb_name(enum control_verb v);

/*
 * Append n bytes as a JSON string (with the quotes). Valid UTF-8 is kept;
 * '"', '\\' and control characters are escaped; each byte that is not part
 * of valid UTF-8 becomes \u00XX (its Latin-1 reading), so the output is
 * always valid JSON. 0, or -1 if out's maximum is reached.
 */
int control_json_string(struct buf *out, const void *p, size_t n);
/* As control_json_string for a C string; NULL gives null. */
int control_json_str(struct buf *out, const char *s);

/*
 * Append n bytes as terminal-safe text: printable ASCII and valid UTF-8 other
 * than control characters are kept, '\\' doubles, everything else becomes
 * \xHH. With keep_lf, LF stays and a CR right before an LF is dropped (for
 * header sections). 0, or -1 if out's maximum is reached.
 */
int control_text(struct buf *out, const void *p, size_t n, int keep_lf);

/* A duration as "45s", "4m", "2h", "3d" (the largest whole unit). */
void control_duration(char *dst, size_t dstlen, int64_t secs);

#endif
