/*
 * ctl_keygen: `ravenctl dkim-keygen DOMAIN SELECTOR [rsa|ed25519]` — a new
 * DKIM signing key, written where only its owner can read it
 * (<data>/dkim/DOMAIN.SELECTOR.key, mode 0600, never over an existing
 * file), and what to do with it printed: the DNS TXT record to publish and
 * the `dkim sign` line for raven.conf. Runs locally; the daemon is not asked.
 */
#ifndef RAVEN_CTL_KEYGEN_H
#define RAVEN_CTL_KEYGEN_H

/* Exit status: 0, 1 (failed, reason on stderr) or 2 (usage). */
int ctl_dkim_keygen(const char *conf_file, const char *const *args, int nargs);

#endif
