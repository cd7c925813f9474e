"""A private Dovecot for the LMTP tests: its own configuration (nothing of
/etc/dovecot), base_dir, state_dir and log under a temp directory, users in a
passwd-file, mail in Maildirs under the same directory; LMTP on a unix-domain
socket (<base_dir>/lmtp, mode 0666 as Dovecot ships it) and on 127.0.0.1:port,
IMAP on 127.0.0.1:port for reading the mail back.

Started as root it is Dovecot as packaged (its master drops to the dovecot
and dovenull accounts, the mail belongs to mail_user); started as anyone else
(run_as=(uid, gid) from a root test, or a non-root test) every process runs
as that one account: the rootless setup of Dovecot's documentation.

    d = Dovecot(root, users={"alice": "secret"}).start()
    ... LMTP to d.lmtp_socket or 127.0.0.1:d.lmtp_port ...
    d.fetch("alice", "secret")     # [raw message bytes] from INBOX over IMAP
    d.stop()
"""

import grp
import imaplib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time

import raven as rv

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def available():
    return os.path.exists(DOVECOT)


class Dovecot:
    def __init__(self, root, users, mail_user="nobody", run_as=None):
        """root: an existing directory (traversable by everyone) for all of
        this instance's files; users: name -> password; mail_user: the
        account the mail is stored as when root; run_as: (uid, gid) to run
        every Dovecot process as instead of root."""
        self.root = root
        self.users = dict(users)
        self.run_as = run_as
        self.base_dir = os.path.join(root, "run")
        self.lmtp_socket = os.path.join(self.base_dir, "lmtp")
        self.lmtp_port = rv.free_port()
        self.imap_port = rv.free_port()
        self.log = os.path.join(root, "dovecot.log")
        self.conf = os.path.join(root, "dovecot.conf")
        self.home = os.path.join(root, "home")
        self.proc = None
        if run_as is not None:
            uid, gid = run_as
        elif os.geteuid() != 0:
            uid, gid = os.geteuid(), os.getegid()
        else:
            pw = pwd.getpwnam(mail_user)
            uid, gid = pw.pw_uid, pw.pw_gid
        self.uid, self.gid = uid, gid
        self.rootless = run_as is not None or os.geteuid() != 0

    def _config(self):
        user = pwd.getpwuid(self.uid).pw_name
        group = grp.getgrgid(self.gid).gr_name
        lines = [
            "# a private Dovecot for Raven's LMTP tests",
            "base_dir = %s" % self.base_dir,
            "state_dir = %s" % os.path.join(self.root, "state"),
            "log_path = %s" % self.log,
            "protocols = imap lmtp",
            "listen = 127.0.0.1",
            "ssl = no",
            "disable_plaintext_auth = no",
            "auth_mechanisms = plain",
            "mail_location = maildir:~/Maildir",
            "mail_uid = %s" % user,
            "mail_gid = %s" % group,
            "first_valid_uid = 1",
            "first_valid_gid = 1",
            "recipient_delimiter = +",
            "passdb {",
            "  driver = passwd-file",
            "  args = scheme=PLAIN username_format=%%n %s" % os.path.join(self.root, "passwd"),
            "}",
            "userdb {",
            "  driver = passwd-file",
            "  args = username_format=%%n %s" % os.path.join(self.root, "passwd"),
            "  default_fields = uid=%s gid=%s home=%s/%%n" % (user, group, self.home),
            "}",
            "service imap-login {",
            "  inet_listener imap {",
            "    address = 127.0.0.1",
            "    port = %d" % self.imap_port,
            "  }",
            "  inet_listener imaps {",
            "    port = 0",
            "  }",
            "}",
            "service lmtp {",
            "  unix_listener lmtp {",
            "    mode = 0666",
            "  }",
            "  inet_listener lmtp {",
            "    address = 127.0.0.1",
            "    port = %d" % self.lmtp_port,
            "  }",
            "}",
            "service pop3-login {",
            "  inet_listener pop3 {",
            "    port = 0",
            "  }",
            "  inet_listener pop3s {",
            "    port = 0",
            "  }",
            "}",
        ]
        if self.rootless:
            # Every process as this one account (no chroot, no user switch).
            lines += [
                "default_internal_user = %s" % user,
                "default_internal_group = %s" % group,
                "default_login_user = %s" % user,
            ]
            for svc in ("anvil", "imap-login", "auth", "auth-worker", "lmtp", "imap",
                        "log", "config", "stats", "dict", "dict-async", "indexer",
                        "indexer-worker", "pop3-login"):
                lines += ["service %s {" % svc, "  chroot =", "  user = %s" % user, "}"]
        return "\n".join(lines) + "\n"

    def start(self, timeout=20):
        if not available():
            raise AssertionError("dovecot is not installed (%s)" % DOVECOT)
        for d in (self.home, os.path.join(self.root, "state")):
            os.makedirs(d, exist_ok=True)
            os.chown(d, self.uid, self.gid) if os.geteuid() == 0 else None
        with open(os.path.join(self.root, "passwd"), "w") as f:
            for name, pw in self.users.items():
                f.write("%s:{PLAIN}%s::::::\n" % (name, pw))
        with open(self.conf, "w") as f:
            f.write(self._config())
        if os.geteuid() == 0 and self.run_as is not None:
            for p in (self.root, os.path.join(self.root, "passwd"), self.conf):
                os.chown(p, self.uid, self.gid)
        kw = {}
        if self.run_as is not None:
            uid, gid = self.run_as

            def drop():
                os.setgroups([])
                os.setgid(gid)
                os.setuid(uid)
            kw["preexec_fn"] = drop
        env = dict(os.environ, HOME=self.root)
        logf = open(os.path.join(self.root, "dovecot.stderr"), "ab")
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=logf, stderr=logf, env=env, **kw)
        logf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("dovecot exited (%s):\n%s" % (self.proc.returncode,
                                                                   self.log_tail()))
            if os.path.exists(self.lmtp_socket) and self._answers(self.lmtp_port) and \
                    self._answers(self.imap_port):
                return self
            time.sleep(0.1)
        raise AssertionError("dovecot did not start listening:\n" + self.log_tail())

    @staticmethod
    def _answers(port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_tail(self, n=60):
        out = []
        for name in ("dovecot.log", "dovecot.stderr"):
            try:
                with open(os.path.join(self.root, name), errors="replace") as f:
                    out += f.read().splitlines()[-n:]
            except OSError:
                pass
        return "\n".join(out)

    def fetch(self, user, password, timeout=10):
        """Every message in user's INBOX, over IMAP (imaplib), oldest first."""
        imap = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=timeout)
        try:
            imap.login(user, password)
            typ, _ = imap.select("INBOX", readonly=True)
            assert typ == "OK", typ
            typ, data = imap.search(None, "ALL")
            assert typ == "OK", typ
            out = []
            for num in data[0].split():
                typ, parts = imap.fetch(num, "(BODY.PEEK[])")
                assert typ == "OK", typ
                out.append(parts[0][1])
            return out
        finally:
            try:
                imap.logout()
            except (OSError, imaplib.IMAP4.error):
                pass

    def wait_fetch(self, user, password, count, timeout=20):
        deadline = time.monotonic() + timeout
        got = []
        while time.monotonic() < deadline:
            got = self.fetch(user, password)
            if len(got) >= count:
                return got
            time.sleep(0.2)
        raise AssertionError("%s has %d message(s) over IMAP, want %d\n%s"
                             % (user, len(got), count, self.log_tail()))
