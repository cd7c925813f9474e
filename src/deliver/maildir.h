/*
 * maildir: deliver one message into a Maildir (the maildir(5) spec):
 * write tmp/<name>, fsync it, link it to new/<name>, unlink tmp/<name>,
 * fsync new/. The name is deterministic per (message, recipient), so a
 * delivery repeated after a crash finds new/<name> (or cur/<name>:2,...)
 * already there and does not duplicate: local delivery is idempotent.
 *
 * Spool data has CRLF line ends (SMTP); the Maildir copy gets LF, as mail
 * clients and Dovecot expect.
 */
#ifndef RAVEN_MAILDIR_H
#define RAVEN_MAILDIR_H

#include <stddef.h>
#include <stdint.h>

enum maildir_result { MAILDIR_OK = 0, MAILDIR_TEMP = -1, MAILDIR_PERM = -2 };

/*
 * Build the deterministic file name "<arrival>.R<msgid>_<idx>.<host>"
 * (host with '/' and ':' escaped as the spec asks).
 */
void maildir_name(char *dst, size_t dstlen, int64_t arrival, const char *msgid, uint32_t idx,
                  const char *host);
/*
 * Create <dir>/{tmp,new,cur} as needed (mode 0700) and deliver the
 * octets readable from data_fd (read from offset 0 with pread; the fd's
 * offset is untouched). The caller has already set the file-system
 * identity to the mailbox owner. On failure err says why.
 */
enum maildir_result maildir_deliver(const char *dir, const char *name, int data_fd, char *err,
                                    size_t errlen);

#endif
