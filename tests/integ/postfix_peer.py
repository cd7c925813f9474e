"""A private Postfix instance as a peer for interoperability tests.

The same idea as bench/postfix.sh, made reusable from pytest: its own
configuration, queue, data and Maildir directories under one scratch
directory, listening only on 127.0.0.1:PORT. The system Postfix
(/etc/postfix/main.cf, port 25, /var/spool/postfix) is never read, started
or modified: every postfix command gets "-c <dir>/conf", the master.cf is
written here (no chroot: a chroot would need copies of /etc files inside
the private queue), and nothing under /etc/postfix is written.

Use the `postfix_peer` fixture (a factory; conftest.py makes it visible to
every test module):

    pf = postfix_peer(relayhost="[127.0.0.1]:%d" % raven.port)   # relay all to Raven
    pf = postfix_peer(mailbox_domains=("peer.test",))            # deliver into Maildirs
    pf = postfix_peer(transports={"example.org": "smtp:[127.0.0.1]:2525"})
    pf.port                      # its SMTP listener on 127.0.0.1
    pf.submit(frm, rcpts, msg, mail_options=("SMTPUTF8",), rcpt_options=...)
    pf.wait_log(r"status=sent")  # its maillog, as regex matches
    pf.wait_mail("user@peer.test", b"token")   # Maildir <root>/mail/peer.test/user/
    pf.deferred_or_bounced()     # maillog lines that say the peer did not deliver

The instance is started when the factory returns and stopped at teardown:
"postfix stop", then its master and every process it had are waited for
by pid, and SIGKILLed by pid if they linger. Postfix's master(8) must start
as root (it drops to the postfix user itself), so the fixture skips with
that reason when the tests do not run as root, or when Postfix is not
available. The Postfix used is the private copy scripts/deps.sh unpacks into
.cache/postfix (never installed as the machine's MTA), else a system-wide
one (postfix_dist.py). RAVEN_KEEP=1 keeps the scratch directory.
"""

import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import time
import pwd
import grp

import pytest

import postfix_dist
import raven as rv

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0

# Services the peer needs, none chrooted. The postlog service carries the
# maillog_file; postfix(1) refuses to start without it when one is set.
MASTER_CF = """\
# private test instance (tests/integ/postfix_peer.py); no chroot
127.0.0.1:{port} inet n - n - - smtpd
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n - 0 cleanup
qmgr       unix  n - n 300 1 qmgr
rewrite    unix  - - n - - trivial-rewrite
bounce     unix  - - n - 0 bounce
defer      unix  - - n - 0 bounce
trace      unix  - - n - 0 bounce
verify     unix  - - n - 1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n - - proxymap
proxywrite unix  - - n - 1 proxymap
smtp       unix  - - n - - smtp
relay      unix  - - n - - smtp
showq      unix  n - n - - showq
error      unix  - - n - - error
retry      unix  - - n - - error
discard    unix  - - n - - discard
virtual    unix  - n n - - virtual
anvil      unix  - - n - 1 anvil
scache     unix  - - n - 1 scache
postlog    unix-dgram n - n - 1 postlogd
"""


def unavailable():
    """Why a private Postfix cannot run here, or None."""
    if os.geteuid() != 0:
        return "Postfix's master(8) must be started as root (it drops to the postfix user)"
    if postfix_dist.root() is None:
        return "no Postfix: run scripts/deps.sh test (it unpacks one into .cache/postfix)"
    for rel in ("usr/sbin/postfix", "usr/sbin/postconf", "usr/lib/postfix/sbin/master"):
        f = postfix_dist.path(rel)
        if not os.access(f, os.X_OK):
            return "Postfix is incomplete (%s missing)" % f
    try:
        pwd.getpwnam("postfix")
        grp.getgrnam("postdrop")
    except KeyError:
        return "the postfix user or the postdrop group is missing"
    return None


class PostfixPeer:
    """One private Postfix instance under root (a directory of its own)."""

    def __init__(self, root, port=None, hostname="peer.test", relayhost=None,
                 mailbox_domains=(), transports=None, main_cf=None, mailbox_owner=None,
                 mailbox_users=("user", "alice", "bob", "carol", "postmaster")):
        self.root = root
        self.port = port or rv.free_port()
        self.hostname = hostname
        self.conf = os.path.join(root, "conf")
        self.spool = os.path.join(root, "spool")
        self.data = os.path.join(root, "data")
        self.mail = os.path.join(root, "mail")
        self.maillog = os.path.join(root, "maillog")
        self.pids = set()
        self.master_pid = None
        self.dist = postfix_dist.root()
        self.postfix = postfix_dist.path("usr/sbin/postfix", self.dist)
        self.env = postfix_dist.env(self.dist)
        owner = mailbox_owner or rv.run_user()
        pw = pwd.getpwnam(owner)
        self.mail_ids = (pw.pw_uid, pw.pw_gid)
        self.mailbox_users = tuple(mailbox_users)
        self._write(relayhost, mailbox_domains, transports or {}, main_cf or {})

    def _write(self, relayhost, mailbox_domains, transports, main_cf):
        for d in (self.conf, self.spool, self.data, self.mail):
            os.makedirs(d, exist_ok=True)
        os.chmod(self.root, 0o755)
        pf = pwd.getpwnam("postfix")
        os.chown(self.data, pf.pw_uid, pf.pw_gid)
        # virtual(8) writes with the mailbox owner's privileges
        os.chown(self.mail, *self.mail_ids)
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(port=self.port))
        main = {
            "compatibility_level": "3.6",
            "config_directory": self.conf,
            "queue_directory": self.spool,
            "data_directory": self.data,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": self.hostname,
            "mydomain": self.hostname,
            "myorigin": self.hostname,
            # nothing is local: every domain goes out (relayhost, transports)
            # unless it is one of the Maildir domains
            "mydestination": "",
            "local_recipient_maps": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtputf8_enable": "yes",
            "maillog_file_prefixes": self.root,
            "maillog_file": self.maillog,
            "alias_maps": "",
            "alias_database": "",
            "biff": "no",
            # tests want answers now, not after the default backoff
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "smtp_connect_timeout": "5s",
            "relayhost": relayhost or "",
        }
        main.update(postfix_dist.main_cf(self.dist))
        if transports:
            path = os.path.join(self.conf, "transport")
            with open(path, "w", encoding="utf-8") as f:
                for dom, nexthop in transports.items():
                    f.write("%s %s\n" % (dom, nexthop))
            main["transport_maps"] = "texthash:" + path
        if mailbox_domains:
            # user@domain -> <mail>/<domain>/<user>/ (a trailing / is
            # Maildir), one line per mailbox: virtual(8) allows no regexp
            # substitution in its map
            path = os.path.join(self.conf, "vmailbox")
            with open(path, "w", encoding="utf-8") as f:
                for dom in mailbox_domains:
                    for user in self.mailbox_users:
                        f.write("%s@%s %s/%s/\n" % (user, dom, dom, user))
            main.update({
                "virtual_mailbox_domains": ", ".join(mailbox_domains),
                "virtual_mailbox_base": self.mail,
                "virtual_mailbox_maps": "texthash:" + path,
                "virtual_uid_maps": "static:%d" % self.mail_ids[0],
                "virtual_gid_maps": "static:%d" % self.mail_ids[1],
            })
        main.update(main_cf)
        with open(os.path.join(self.conf, "main.cf"), "w", encoding="utf-8") as f:
            f.write("# private test instance (tests/integ/postfix_peer.py)\n")
            for k, v in main.items():
                f.write("%s = %s\n" % (k, v))
        self._postfix("check")

    def _postfix(self, verb):
        r = subprocess.run([self.postfix, "-c", self.conf, verb], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60, env=self.env)
        if r.returncode != 0:
            raise AssertionError("postfix -c %s %s failed (%d): %s%s\n%s"
                                 % (self.conf, verb, r.returncode, r.stdout, r.stderr,
                                    self.log_tail()))
        return r

    # lifecycle
    def start(self):
        self._postfix("start")
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            pid = self._read_master_pid()
            if pid and rv.alive(pid):
                self.master_pid = pid  # from now on stop() has something to stop
                self.pids.add(pid)
                if self._answers():
                    self.remember_pids()
                    return self
            if time.monotonic() > deadline:
                raise AssertionError("private postfix did not answer on 127.0.0.1:%d\n%s"
                                     % (self.port, self.log_tail()))
            time.sleep(0.1)

    def _answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.settimeout(2)
                ok = s.recv(512).startswith(b"220")
                s.sendall(b"QUIT\r\n")
                return ok
        except OSError:
            return False

    def _read_master_pid(self):
        try:
            with open(os.path.join(self.spool, "pid", "master.pid")) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return None

    def remember_pids(self):
        if self.master_pid:
            self.pids.update(rv.descendants(self.master_pid))

    def stop(self):
        if self.master_pid is None:
            return
        self.remember_pids()
        subprocess.run([self.postfix, "-c", self.conf, "stop"], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=60, env=self.env)
        deadline = time.monotonic() + STOP_TIMEOUT
        sig = None
        while True:
            left = [p for p in self.pids if rv.alive(p)]
            if not left:
                break
            if time.monotonic() > deadline:
                if sig == signal.SIGKILL:
                    raise AssertionError("postfix processes %s survive SIGKILL" % left)
                # only the processes of this instance, by pid
                sig = signal.SIGTERM if sig is None else signal.SIGKILL
                for p in left:
                    try:
                        os.kill(p, sig)
                    except ProcessLookupError:
                        pass
                deadline = time.monotonic() + 2
            time.sleep(0.05)
        self.master_pid = None

    # observation
    def log_text(self):
        try:
            with open(self.maillog, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=60):
        lines = self.log_text().splitlines()
        return "---- %s (last %d lines) ----\n%s" % (self.maillog, min(n, len(lines)),
                                                    "\n".join(lines[-n:]))

    def log_lines(self, pattern):
        rx = re.compile(pattern)
        return [l for l in self.log_text().splitlines() if rx.search(l)]

    def wait_log(self, pattern, count=1, timeout=rv.DELIVERY_TIMEOUT * 2):
        """Wait until count maillog lines match the regex pattern; return them."""
        def check():
            got = self.log_lines(pattern)
            return got if len(got) >= count else None
        try:
            return rv.wait_until(check, timeout, what="%d maillog line(s) matching %r"
                                 % (count, pattern))
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.log_tail())) from None

    def deferred_or_bounced(self):
        """Delivery lines that are not status=sent: what the peer failed to deliver."""
        return self.log_lines(r"\bstatus=(?!sent\b)")

    def maildir(self, address):
        local, domain = address.rsplit("@", 1)
        return os.path.join(self.mail, domain, local)

    def messages(self, address):
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(self.maildir(address), sub)
            try:
                names = sorted(os.listdir(d))
            except OSError:
                continue
            for n in names:
                with open(os.path.join(d, n), "rb") as f:
                    out.append(f.read())
        return out

    def wait_mail(self, address, token, count=1, timeout=rv.DELIVERY_TIMEOUT * 2):
        if isinstance(token, str):
            token = token.encode()

        def check():
            got = [m for m in self.messages(address) if token in m]
            return got if len(got) >= count else None
        try:
            return rv.wait_until(check, timeout, what="%d message(s) with %r for %s"
                                 % (count, token, address))
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.log_tail())) from None

    # a client
    def submit(self, frm, rcpts, msg, mail_options=(), rcpt_options=()):
        """Send one message to the peer with smtplib; returns the 250 reply text.
        rcpt_options: one list for every recipient, or a dict per recipient."""
        if isinstance(msg, str):
            msg = msg.encode("utf-8")
        data = rv.normalize(msg).replace(b"\n", b"\r\n")
        with smtplib.SMTP("127.0.0.1", self.port, local_hostname="client.test",
                          timeout=30) as s:
            s.ehlo()
            code, resp = s.mail(frm, list(mail_options))
            assert code == 250, ("MAIL", code, resp)
            for r in rcpts:
                opts = rcpt_options.get(r, ()) if isinstance(rcpt_options, dict) \
                    else rcpt_options
                code, resp = s.rcpt(r, list(opts))
                assert code == 250, ("RCPT", r, code, resp)
            code, resp = s.data(data)
            assert code == 250, ("DATA", code, resp)
            return resp.decode("utf-8", "replace")

    def cleanup(self, keep=False):
        self.stop()
        if not keep:
            shutil.rmtree(self.root, ignore_errors=True)


class PeerFactory:
    """Creates started PostfixPeer instances and tears them all down."""

    def __init__(self):
        self.peers = []

    def __call__(self, **opts):
        p = PostfixPeer(rv.make_root(prefix="postfix-peer-"), **opts)
        self.peers.append(p)
        return p.start()

    def teardown(self):
        errors = []
        for p in self.peers:
            try:
                p.cleanup(keep=os.environ.get("RAVEN_KEEP") == "1")
            except Exception as e:  # stop the others all the same
                errors.append(str(e))
        if errors:
            raise AssertionError("\n".join(errors))


@pytest.fixture
def postfix_peer():
    """Factory of started private Postfix instances (see the module docstring);
    all are stopped at teardown. Skips when Postfix cannot run here."""
    why = unavailable()
    if why:
        pytest.skip(why)
    f = PeerFactory()
    yield f
    f.teardown()
