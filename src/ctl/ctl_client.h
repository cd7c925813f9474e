/*
 * ctl_client: the client side of the control socket (docs/ravenctl.8.md),
 * shared by ravenctl and raven-sendmail -bp (mailq): connect, send one
 * request line, print the answer's body on stdout and any error on stderr
 * after "prog: ".
 */
#ifndef RAVEN_CTL_CLIENT_H
#define RAVEN_CTL_CLIENT_H

struct config;

enum ctl_result {
	CTL_OK = 0,
	CTL_FAILED,      /* the request failed, or the answer broke off */
	CTL_UNREACHABLE, /* no daemon answers on the socket */
	CTL_DENIED,      /* the socket, or the daemon, refused this user */
};

/* <data>/run/ravenctl.sock (a fresh string). */
char *ctl_socket_path(const struct config *c);
/* Send line (without its newline); an enum ctl_result. */
int ctl_client_request(const char *prog, const char *path, const char *line);

#endif
