/*
 * mailparams: the values of the ESMTP parameters a message carries from
 * the SMTP dialogue through the spool to its deliveries and notices —
 * BODY (RFC 6152), DSN NOTIFY and RET (RFC 3461). One definition for the
 * parser, the envelope codec, the DSN builder and the SMTP client.
 */
#ifndef RAVEN_MAILPARAMS_H
#define RAVEN_MAILPARAMS_H

enum body_type { BODY_NONE = 0, BODY_7BIT, BODY_8BITMIME, BODY_BINARYMIME };

/* DSN NOTIFY bits (RFC 3461 §4.1); 0 means the parameter was absent. */
enum { NOTIFY_NEVER = 1, NOTIFY_SUCCESS = 2, NOTIFY_FAILURE = 4, NOTIFY_DELAY = 8 };

/* DSN RET (RFC 3461 §4.3); RET_NONE: absent. */
enum dsn_ret { RET_NONE = 0, RET_FULL, RET_HDRS };

#endif
