/*
 * maildir: deliver one message into a Maildir (the maildir(5) spec):
 * write tmp/<name>, fsync it, rename it to new/<name> (never replacing; link +
 * unlink where the file system cannot),
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

/* MAILDIR_CORRUPT: the data read did not match the size and CRC-32C it
 * was expected to have; nothing was delivered. */
enum maildir_result { MAILDIR_OK = 0, MAILDIR_TEMP = -1, MAILDIR_PERM = -2, MAILDIR_CORRUPT = -3 };

/* What the spooled data must be (its envelope says so): checked as it is
 * read, before the copy can reach new/. */
struct maildir_check {
	uint64_t size;
	uint32_t crc; /* CRC-32C of the size octets */
};

/*
 * Build the deterministic file name "<arrival>.R<msgid>_<idx>.<host>"
 * (host with '/' and ':' escaped as the spec asks).
 */
void maildir_name(char *dst, size_t dstlen, int64_t arrival, const char *msgid, uint32_t idx,
                  const char *host);
/*
 * The head of a delivered copy: "Return-Path: <sender>" and "Delivered-To:
 * user@domain" (the domain of rcpt, or hostname without one), LF-ended,
 * into dst. -1 if it does not fit or a CR or LF is inside.
 */
int maildir_delivery_head(char *dst, size_t len, const char *sender, const char *user,
                          const char *rcpt, const char *hostname);

/*
 * Create <dir>/{tmp,new,cur} as needed (mode 0700) and deliver head (the
 * delivery's own header lines, LF-terminated, or NULL) followed by the
 * octets readable from data_fd (read from offset 0 with pread; the fd's
 * offset is untouched). The caller has already set the file-system
 * identity to the mailbox owner. On failure err says why.
 */
enum maildir_result maildir_deliver(const char *dir, const char *name, const char *head,
                                    int data_fd, char *err, size_t errlen);

/*
 * The same in two steps, so that a caller delivering many messages can make
 * them durable together, many syncs in flight at once (group commit):
 * maildir_prepare() writes tmp/<name> — fsync'ed when sync is set, else
 * left open in fd for the caller to make durable with maildir_sync_file() —
 * or finds the message already delivered (done). After the tmp files are
 * durable, maildir_publish() renames each into new/ — fsync of new/ when
 * sync is set, else new/ is left open in newfd for the caller to fsync
 * (once per directory, however many deliveries it holds); after new/ is
 * durable, the delivery is complete. maildir_prep_close() releases a
 * prepared delivery; maildir_abandon() also removes its tmp file.
 */
struct maildir_prep {
	int dfd;         /* the maildir, open; -1 when released */
	int fd;          /* tmp/<name>, until maildir_sync_file(); else -1 */
	int newfd;       /* new/, opened by an unsynced publish; else -1 */
	int done;        /* the message is in new/ (or cur/) */
	const char *dir; /* for error messages; the caller's string */
	char name[256];
};
enum maildir_result maildir_prepare(const char *dir, const char *name, const char *head,
                                    int data_fd, int sync, struct maildir_prep *p, char *err,
                                    size_t errlen);
/* maildir_prepare() that checks the data against chk (NULL: no check). */
enum maildir_result maildir_prepare_checked(const char *dir, const char *name, const char *head,
                                            int data_fd, const struct maildir_check *chk, int sync,
                                            struct maildir_prep *p, char *err, size_t errlen);
/* fdatasync and close the tmp file of an unsynced prepare: 0 or an errno.
 * Touches only p->fd, so a sync thread may call it. nosync: close only
 * (the caller makes the file durable another way, syncfs). */
int maildir_sync_file(struct maildir_prep *p, int nosync);
enum maildir_result maildir_publish(struct maildir_prep *p, int sync, char *err, size_t errlen);
/* The text of a failed maildir_sync_file() or fsync of new/, as the other
 * failures read (RFC 3463 code first). */
void maildir_sync_error(char *err, size_t errlen, int e, const struct maildir_prep *p,
                        const char *sub);
void maildir_abandon(struct maildir_prep *p);
void maildir_prep_close(struct maildir_prep *p);

#endif
