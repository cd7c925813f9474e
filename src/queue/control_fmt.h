/*
 * control_fmt: what the control socket answers, as text for people or as
 * JSON for programs (schemas in docs/ravenctl.8.md). Pure: renders the
 * scheduler's messages and the queue's counters into a buffer, with the time
 * as an argument so that tests fix it. Every function returns 0, or -1 when
 * out's maximum was reached (the output is then incomplete and must not be
 * sent).
 */
#ifndef RAVEN_CONTROL_FMT_H
#define RAVEN_CONTROL_FMT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "control_req.h"
#include "queue_admin.h"
#include "scheduler.h"

/* "pending", "deferred", "held", "delivered", "failed"; "?" otherwise. */
const char *control_state_name(uint8_t state);

/* The queue listing: begin, one call per message (index 0, 1, ...), end. */
int control_fmt_queue_begin(struct buf *out, int json, int64_t now);
int control_fmt_queue_msg(struct buf *out, int json, const struct sched_msg *m, size_t index,
                          int64_t now);
int control_fmt_queue_end(struct buf *out, int json, size_t messages, size_t recipients);

/*
 * One message in full; headers is its header section (may be empty), or
 * NULL when it could not be read, with the reason in headers_err.
 */
int control_fmt_show(struct buf *out, int json, const struct sched_msg *m, const uint8_t *headers,
                     size_t headers_len, const char *headers_err, int64_t now);

int control_fmt_stats(struct buf *out, int json, const struct sched_stats *st,
                      const struct queue_counters *c, int64_t now);

/* The daemon at a glance (ravenctl status): version, processes, listeners,
 * queue size. */
int control_fmt_status(struct buf *out, int json, const struct queue_status *st, int64_t now);

/* The answer to flush/remove/hold/release; id "" for flush of everything. */
int control_fmt_action(struct buf *out, int json, enum control_verb v, const char *id);

#endif
