"""Harness for Raven's integration tests: start the real ravend in a temp
directory with its own port and spool, talk to it over real sockets, find its
processes through /proc and wait for deliveries with a deadline.

Every configuration the tests use is built here (make_config), so that a
keyword of the configuration language changes in one spot only.
"""

import errno
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RAVEND = os.environ.get("RAVEND", str(REPO / "build" / "src" / "parent" / "ravend"))
RAVENCTL = os.environ.get("RAVENCTL", str(REPO / "build" / "src" / "ctl" / "ravenctl"))
HOSTNAME = "mx.test.example"
LOCAL_DOMAINS = ("example.org", "localhost")
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "jöran")
ALIASES = {
    "team": ("alice", "bob"),
    "postmaster": ("bob",),
    "nested": ("team", "carol@localhost"),
    "loop1": ("loop2",),
    "loop2": ("loop1",),
    # targets a maildir-only MTA must never act on ({root}: the test's temp dir)
    "pipe": ('"|/usr/bin/touch {root}/pwned-pipe"',),
    "file": ("{root}/pwned-file",),
    "include": (":include:{root}/users",),
}

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
DELIVERY_TIMEOUT = 10.0

# --- configuration language (docs/raven.conf.5.md) -------------------------
# The keywords below are the only places the tests spell the grammar.
CONF_LIMITS = "limits message-size {message_size} recipients {recipients} " \
    "connections {connections} per-ip {per_ip}"
# Protocol errors per session before 421, and the idle timeouts in seconds
# (docs/raven.conf.5.md: "limits errors N", "timeout command 2s data 2s ...").
CONF_ERRORS = "limits errors {errors}"
CONF_TIMEOUT = "timeout command {timeout}s data {timeout}s greeting {timeout}s"
# The Prometheus endpoint (docs/raven.conf.5.md: "metrics listen").
CONF_METRICS = "metrics listen on {addr} port {port}"

# TLS and AUTH (docs/raven.conf.5.md): certificates, extra listeners with
# their flags ("tls", "submission", "plaintext-auth"), the credentials and
# senders tables, who is local, and the handshake timeout.
CONF_TLS_CERT = 'tls certificate "{cert}" key "{key}"'
CONF_LISTEN = "listen on {addr} port {port}{flags}"
CONF_AUTH_USERS = 'table passwd file "{path}"\nauth users <passwd>'
CONF_AUTH_SENDERS = 'table senders file "{path}"\nauth senders <senders>'
CONF_LOCAL_NETS = "local networks {{ {nets} }}"
CONF_TIMEOUT_TLS = "timeout tls {secs}s"
CONF_AUTH_LIMITS = "limits auth-failures {failures} auth-lockout {lockout}s"
LISTEN_FLAGS = {"tls": "tls", "submission": "submission", "plaintext_auth": "plaintext-auth"}

# Sender checks and DKIM signing (docs/raven.conf.5.md: spf, dmarc, dkim, dnsbl).
CONF_RESOLVER = 'resolver "127.0.0.1" port {port}'
CONF_SPF = "spf {policy}"
CONF_DMARC = "dmarc {policy}"
CONF_DKIM_VERIFY = "dkim verify"
CONF_DKIM_SIGN = 'dkim sign domain "{domain}" selector "{selector}" key "{key}"'
CONF_DNSBL = 'dnsbl "{zone}" {policy}'
CONF_DNSBL_CODES = ' codes {{ {codes} }}'
CONF_DNSBL_ALLOW = "dnsbl allow {{ {nets} }}"


def checks_config(dns_port, spf=None, dmarc=None, dkim_verify=False, dnsbl=(),
                  dnsbl_allow=(), dkim_sign=()):
    """Configuration lines for the sender checks: the fake resolver, then
    spf/dmarc policies ("reject", "tag", ...), dkim verify, DNSBL zones as
    (zone, policy[, codes]) and networks that skip them, and signing keys as
    (domain, selector, key file)."""
    lines = [CONF_RESOLVER.format(port=dns_port)]
    if spf:
        lines.append(CONF_SPF.format(policy=spf))
    if dmarc:
        lines.append(CONF_DMARC.format(policy=dmarc))
    if dkim_verify:
        lines.append(CONF_DKIM_VERIFY)
    for z in dnsbl:
        line = CONF_DNSBL.format(zone=z[0], policy=z[1])
        if len(z) > 2:
            line += CONF_DNSBL_CODES.format(codes=", ".join('"%s"' % c for c in z[2]))
        lines.append(line)
    if dnsbl_allow:
        lines.append(CONF_DNSBL_ALLOW.format(nets=", ".join('"%s"' % n for n in dnsbl_allow)))
    for domain, selector, key in dkim_sign:
        lines.append(CONF_DKIM_SIGN.format(domain=domain, selector=selector, key=key))
    return lines

DEFAULTS = dict(
    message_size="100K",
    recipients=5,
    connections=10,
    per_ip=3,
    errors=None,   # None: keep the daemon's default
    timeout=None,  # None: keep the daemon's default
)


def run_user():
    """The unprivileged user ravend drops to when started as root.

    "raven" is the contract's user; a machine without it (the test user is
    never created here) falls back to "nobody" so that the suite still runs
    as root. RAVEN_TEST_USER overrides both.
    """
    name = os.environ.get("RAVEN_TEST_USER")
    if name:
        return name
    try:
        pwd.getpwnam("raven")
        return "raven"
    except KeyError:
        return "nobody"


def run_net_user():
    """The second unprivileged user: the network-facing roles run as it.

    "raven-net" is the default; without it the suite falls back to "daemon"
    (any account other than run_user() will do). RAVEN_TEST_NET_USER
    overrides both.
    """
    name = os.environ.get("RAVEN_TEST_NET_USER")
    if name:
        return name
    try:
        pwd.getpwnam("raven-net")
        return "raven-net"
    except KeyError:
        return "daemon"


def make_config(root, port, **opts):
    """Return the text of a test configuration rooted at directory root."""
    o = dict(DEFAULTS)
    o.update(opts)
    data = os.path.join(root, "var")
    lines = [
        '# raven integration test configuration',
        'hostname "%s"' % HOSTNAME,
        'data "%s"' % data,
        'user "%s"' % run_user(),
        'user network "%s"' % run_net_user(),
        'listen on 127.0.0.1 port %d' % port,
        'table domains { %s }' % ", ".join('"%s"' % d for d in LOCAL_DOMAINS),
        'table users file "%s"' % os.path.join(root, "users"),
        'table aliases file "%s"' % os.path.join(root, "aliases"),
        CONF_LIMITS.format(**o),
    ]
    if o["errors"] is not None:
        lines.append(CONF_ERRORS.format(**o))
    if o["timeout"] is not None:
        lines.append(CONF_TIMEOUT.format(**o))
    for cert, key in o.get("tls_certs", ()):
        lines.append(CONF_TLS_CERT.format(cert=cert, key=key))
    for port, flags in o.get("listeners", ()):
        lines.append(CONF_LISTEN.format(
            addr="127.0.0.1", port=port,
            flags="".join(" " + LISTEN_FLAGS[f] for f in flags)))
    if o.get("local_networks"):
        lines.append(CONF_LOCAL_NETS.format(
            nets=", ".join('"%s"' % n for n in o["local_networks"])))
    if o.get("auth_users"):
        lines += CONF_AUTH_USERS.format(path=o["auth_users"]).split("\n")
    if o.get("auth_senders"):
        lines += CONF_AUTH_SENDERS.format(path=o["auth_senders"]).split("\n")
    if o.get("timeout_tls"):
        lines.append(CONF_TIMEOUT_TLS.format(secs=o["timeout_tls"]))
    if o.get("auth_failures"):
        lines.append(CONF_AUTH_LIMITS.format(failures=o["auth_failures"],
                                             lockout=o.get("auth_lockout", 900)))
    lines += list(o.get("actions", ()))
    lines += [
        'action "mailbox" maildir "%s/mail/%%{user}" users <users> alias <aliases>' % data,
        'match from any for domain <domains> action "mailbox"',
    ]
    lines += list(opts.get("extra", ()))
    return "\n".join(lines) + "\n"


def write_tables(root):
    with open(os.path.join(root, "users"), "w", encoding="utf-8") as f:
        for u in USERS:
            f.write(u + "\n")
    with open(os.path.join(root, "aliases"), "w", encoding="utf-8") as f:
        for name, targets in ALIASES.items():
            f.write("%s: %s\n" % (name, ", ".join(t.format(root=root) for t in targets)))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_root(prefix="raven-integ-"):
    """A temp dir that the unprivileged daemon user can traverse (0755)."""
    root = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(root, 0o755)
    return root


# --- /proc ------------------------------------------------------------------

def proc_stat(pid):
    """(comm, state, ppid) of pid, or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            raw = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    lp, rp = raw.index("("), raw.rindex(")")
    comm = raw[lp + 1:rp]
    rest = raw[rp + 2:].split()
    return comm, rest[0], int(rest[1])


def alive(pid):
    st = proc_stat(pid)
    return st is not None and st[1] not in ("Z", "X")


def all_pids():
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            out.append(int(d))
    return out


def children(ppid):
    """Live direct children of ppid as [(pid, comm)]."""
    out = []
    for pid in all_pids():
        st = proc_stat(pid)
        if st and st[2] == ppid and st[1] not in ("Z", "X"):
            out.append((pid, st[0]))
    return out


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c, _ in children(p):
            out.append(c)
            todo.append(c)
    return out


def proc_ids(pid):
    """{'uid': (real, eff, saved, fs), 'gid': (...)} from /proc/PID/status."""
    ids = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                ids["uid"] = tuple(int(x) for x in line.split()[1:5])
            elif line.startswith("Gid:"):
                ids["gid"] = tuple(int(x) for x in line.split()[1:5])
    return ids


def wait_until(pred, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


# --- the daemon -------------------------------------------------------------

class Raven:
    """One ravend instance in its own directory."""

    def __init__(self, root=None, port=None, **opts):
        self.root = root or make_root()
        self.port = port or free_port()
        self.opts = opts
        self.data = os.path.join(self.root, "var")
        self.queue = os.path.join(self.data, "queue")
        self.conf = os.path.join(self.root, "raven.conf")
        self.log = os.path.join(self.root, "ravend.log")
        self.proc = None
        self.known_pids = set()
        self.starts = 0
        self.popen_kw = {}
        write_tables(self.root)
        self.write_config()

    def write_config(self, **more):
        self.opts.update(more)
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(make_config(self.root, self.port, **self.opts))

    # lifecycle
    def start(self, wait=True):
        if not os.path.exists(RAVEND):
            raise AssertionError("ravend binary not found at %s (set RAVEND)" % RAVEND)
        self.starts += 1
        logf = open(self.log, "ab")
        logf.write(b"=== harness: start #%d ===\n" % self.starts)
        logf.flush()
        # builtin=True: no -c, the built-in default (what `make run` starts)
        argv = [RAVEND, "-d"] if self.opts.get("builtin") else [RAVEND, "-c", self.conf, "-d"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=logf, stderr=logf, cwd=self.root,
                                     **self.popen_kw)
        logf.close()
        self.known_pids.add(self.proc.pid)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("ravend exited with status %s during start-up\n%s"
                                     % (self.proc.returncode, self.log_tail()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.settimeout(2)
                    banner = s.recv(512)
                    if banner.startswith(b"220"):
                        # wait for the close so that this probe no longer
                        # counts against the connection limits
                        s.sendall(b"QUIT\r\n")
                        while s.recv(512):
                            pass
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("ravend did not accept connections on port %d within %.0fs\n%s"
                                     % (self.port, timeout, self.log_tail()))
            time.sleep(0.05)
        self.remember_pids()

    def remember_pids(self):
        if self.proc is not None:
            self.known_pids.update(descendants(self.proc.pid))

    @property
    def pid(self):
        return self.proc.pid

    def roles(self):
        """{comm: [pid, ...]} of the parent's live children."""
        out = {}
        for pid, comm in children(self.proc.pid):
            out.setdefault(comm, []).append(pid)
            self.known_pids.add(pid)
        return out

    def settled_roles(self, want=(), timeout=START_TIMEOUT):
        """roles() once every child has named itself (a role just executed
        has not yet) and each name in want runs. ravend starts every role
        it wants at once, so what is missing then is not coming."""
        def settled():
            roles = self.roles()
            named = all(n.startswith("raven-") for n in roles)
            return roles if named and all(n in roles for n in want) else None
        return wait_until(settled, timeout, what="the role processes %s (children: %s)"
                          % (list(want), children(self.proc.pid)))

    def role_pid(self, name, timeout=START_TIMEOUT, exclude=()):
        """Pid of the one child named name (waiting for it to appear)."""
        def find():
            pids = [p for p in self.roles().get(name, []) if p not in exclude]
            return pids[0] if len(pids) == 1 else None
        return wait_until(find, timeout, what="a %s process (children: %s)"
                          % (name, children(self.proc.pid)))

    def wait_role_ended(self, role, pid):
        """The role instance pid, retired by a reload whose configuration
        no longer wants the role, exits and is not started again."""
        wait_log(self, "role-retired", role=role)
        wait_until(lambda: not alive(pid), 10, what="the old raven-%s to exit" % role)
        time.sleep(1.5)  # longer than a restart pause: nothing starts it again
        assert "raven-" + role not in self.roles()
        assert len(log_events(self, "role-started", role=role)) == 1

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, then SIGKILL after timeout; returns the exit status."""
        if self.proc is None:
            return None
        self.remember_pids()
        rc = self.proc.poll()
        if rc is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
        self.wait_gone(timeout)
        return rc

    def kill9_all(self):
        """SIGKILL the parent and every descendant at once, as a power cut would."""
        pids = [self.proc.pid] + descendants(self.proc.pid)
        self.known_pids.update(pids)
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        self.wait_gone(STOP_TIMEOUT)
        return pids

    def wait_gone(self, timeout):
        """Wait until every process this instance ever had is gone; SIGKILL
        stragglers (by pid) after timeout."""
        deadline = time.monotonic() + timeout
        killed = False
        while True:
            left = [p for p in self.known_pids if alive(p) and self.ours(p)]
            if not left:
                return
            if time.monotonic() > deadline:
                if killed:
                    raise AssertionError("processes %s survive SIGKILL" % left)
                for p in left:
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                killed = True
                deadline = time.monotonic() + 2
            time.sleep(0.02)

    @staticmethod
    def ours(pid):
        st = proc_stat(pid)
        return st is not None and (st[0].startswith("raven") or st[0] == "ravend")

    def cleanup(self, keep=False):
        self.stop()
        self.wait_gone(1)
        if not keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def restart(self):
        self.stop()
        return self.start()

    # observation
    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=60):
        lines = self.log_text().splitlines()
        return "---- %s (last %d lines) ----\n%s" % (self.log, min(n, len(lines)),
                                                    "\n".join(lines[-n:]))

    def maildir(self, user):
        return os.path.join(self.data, "mail", user)

    def mail_files(self, user):
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(self.maildir(user), sub)
            try:
                names = sorted(os.listdir(d))
            except OSError:
                continue
            out += [os.path.join(d, n) for n in names]
        return out

    def messages(self, user):
        out = []
        for p in self.mail_files(user):
            with open(p, "rb") as f:
                out.append(f.read())
        return out

    def find(self, user, token):
        """Delivered messages of user containing token (bytes or str)."""
        if isinstance(token, str):
            token = token.encode()
        return [m for m in self.messages(user) if token in m]

    def wait_for(self, user, token, count=1, timeout=DELIVERY_TIMEOUT):
        """Wait until user has at least count messages containing token; return them."""
        def check():
            got = self.find(user, token)
            return got if len(got) >= count else None
        try:
            return wait_until(check, timeout, what="%d message(s) with %r for %s"
                              % (count, token, user))
        except AssertionError as e:
            raise AssertionError("%s\nmailbox has %d file(s)\n%s"
                                 % (e, len(self.mail_files(user)), self.log_tail()))

    def queue_files(self, sub):
        try:
            return sorted(os.listdir(os.path.join(self.queue, sub)))
        except OSError:
            return []

    def wait_queue_empty(self, timeout=DELIVERY_TIMEOUT):
        wait_until(lambda: not self.queue_files("env") and not self.queue_files("data"),
                   timeout, what="an empty spool (env=%s data=%s)"
                   % (self.queue_files("env"), self.queue_files("data")))

    def assert_not_delivered(self, token, users=USERS, settle=1.0):
        """Give the daemon time to (wrongly) deliver, then assert nothing has token."""
        time.sleep(settle)
        for u in users:
            got = self.find(u, token)
            assert not got, "%s unexpectedly received %r:\n%r" % (u, token, got[0][:500])


# --- message helpers ----------------------------------------------------------

_counter = [0]


def unique(tag="m"):
    _counter[0] += 1
    return "%s-%d-%d-%d" % (tag, os.getpid(), int(time.time() * 1000) % 10 ** 8, _counter[0])


def make_message(token, to="alice@example.org", frm="sender@remote.test", body=None,
                 subject=None, extra_headers=()):
    """An RFC 5322 message (str, LF line ends) with Message-ID <token@test>."""
    hdr = [
        "From: <%s>" % frm,
        "To: <%s>" % to,
        "Subject: %s" % (subject or "test " + token),
        "Date: Thu, 01 Jan 2026 00:00:00 +0000",
        "Message-ID: <%s@test>" % token,
    ] + list(extra_headers)
    if body is None:
        body = "Hello,\nthis is message %s.\n\n-- \nthe tests\n" % token
    return "\n".join(hdr) + "\n\n" + body


def queue_id(reply):
    """The queue id from a '250 2.0.0 Ok: queued as ID' reply text (bytes or str)."""
    if isinstance(reply, str):
        reply = reply.encode()
    m = re.search(rb"queued as (\S+)", reply, re.I)
    assert m, "no queue id in reply %r" % reply
    return m.group(1).decode()


def delivery_headers(raw):
    """The header lines final delivery puts first: {b"Return-Path": .., b"Delivered-To": ..}
    and the rest of the file."""
    out = {}
    for name in (b"Return-Path", b"Delivered-To"):
        assert raw.startswith(name + b": "), "delivered file does not start with %s:\n%r" \
            % (name.decode(), raw[:300])
        line, raw = raw.split(b"\n", 1)
        out[name] = line[len(name) + 2:]
    return out, raw


def split_received(raw):
    """Split a delivered file into (Raven's Received header unfolded, the rest),
    past the delivery's Return-Path and Delivered-To."""
    _, raw = delivery_headers(raw)
    assert raw.startswith(b"Received:"), "delivered file does not start with Received:\n%r" \
        % raw[:300]
    lines = raw.split(b"\n")
    i = 1
    while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
        i += 1
    header = b" ".join(l.strip() for l in lines[:i])
    return header, b"\n".join(lines[i:])


def normalize(msg):
    """What a message sent over SMTP should look like in the maildir: LF ends."""
    if isinstance(msg, str):
        msg = msg.encode("utf-8")
    msg = msg.replace(b"\r\n", b"\n")
    if not msg.endswith(b"\n"):
        msg += b"\n"
    return msg


# --- a raw SMTP client ----------------------------------------------------------

class Reply:
    def __init__(self, code, lines):
        self.code = code
        self.lines = lines  # text after "NNN-" / "NNN "

    @property
    def text(self):
        return "\n".join(self.lines)

    @property
    def enh(self):
        m = re.match(r"([245]\.\d{1,3}\.\d{1,3})\b", self.lines[0] if self.lines else "")
        return m.group(1) if m else None

    def __repr__(self):
        return "<Reply %d %r>" % (self.code, self.text)


class Closed(Exception):
    pass


class RawSMTP:
    """A minimal SMTP client that sends exactly the bytes it is given."""

    def __init__(self, port, host="127.0.0.1", source=None, timeout=10):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if source:
            self.sock.bind((source, 0))
        self.sock.connect((host, port))
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _line(self):
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            except socket.timeout:
                raise AssertionError("no complete reply within %ss (pending %r)"
                                     % (self.sock.gettimeout(), self.buf)) from None
            if not chunk:
                raise Closed("connection closed by server (pending %r)" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        lines = []
        while True:
            line = self._line()
            if len(line) < 3 or not line[:3].isdigit():
                raise AssertionError("malformed reply line %r" % line)
            lines.append(line[4:])
            if len(line) == 3 or line[3] == " ":
                return Reply(int(line[:3]), lines)
            if line[3] != "-":
                raise AssertionError("malformed reply line %r" % line)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def greeting(self):
        return self.reply()

    def ehlo(self, name="client.test"):
        r = self.cmd("EHLO " + name)
        assert r.code == 250, r
        return r

    def is_closed(self, timeout=3):
        """True if the server closes the connection (EOF/reset) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        except OSError as e:
            return e.errno in (errno.ECONNRESET, errno.EPIPE)


def session(port, **kw):
    """A RawSMTP past the greeting and EHLO."""
    s = RawSMTP(port, **kw)
    g = s.greeting()
    assert g.code == 220, g
    s.ehlo()
    return s


def send_raw(port, mail_from, rcpts, data, ehlo=True):
    """One transaction with already dot-stuffed CRLF data (without the final
    '.'). Returns (rcpt replies, final reply)."""
    with RawSMTP(port) as s:
        assert s.greeting().code == 220
        if ehlo:
            s.ehlo()
        r = s.cmd("MAIL FROM:<%s>" % mail_from)
        assert r.code == 250, r
        rr = [s.cmd("RCPT TO:<%s>" % a) for a in rcpts]
        r = s.cmd("DATA")
        assert r.code == 354, r
        s.send(data)
        s.send(b".\r\n")
        final = s.reply()
        try:
            s.cmd("QUIT")
        except (Closed, OSError):
            pass
        return rr, final


def dot_stuff_crlf(msg):
    """LF or CRLF message -> CRLF, dot-stuffed, ending in CRLF."""
    if isinstance(msg, str):
        msg = msg.encode("utf-8")
    msg = normalize(msg).replace(b"\n", b"\r\n")
    return b"\r\n".join((b"." + l if l.startswith(b".") else l)
                        for l in msg.split(b"\r\n"))


# --- queue test helpers ---
# Used by test_queue.py and test_faults.py: short retry schedules, mailboxes
# broken on purpose, the daemon's key=value log and RFC 3464 DSNs.

CONF_QUEUE = "queue retry-min {retry_min} retry-max {retry_max} lifetime {lifetime} " \
    "delay-warning {delay_warning}"

_LOG_KV = re.compile(r'([A-Za-z_][\w-]*)=("(?:[^"\\]|\\.)*"|\S*)')


def queue_config(retry_min="1s", retry_max="2s", lifetime="6s", delay_warning="off"):
    """The `queue` configuration line for a short test schedule."""
    return CONF_QUEUE.format(retry_min=retry_min, retry_max=retry_max, lifetime=lifetime,
                             delay_warning=delay_warning)


# Room kept free on the spool's file system (new mail waits below it), and how
# batches are made durable (docs/raven.conf.5.md, "queue").
CONF_MIN_FREE = "queue min-free {size} min-free-inodes {inodes}"
CONF_SYNC = "queue sync {how}"


def min_free_config(size, inodes):
    return CONF_MIN_FREE.format(size=size, inodes=inodes)


def sync_config(how):
    return CONF_SYNC.format(how=how)


def log_events(raven, event, **match):
    """The log lines with event=<event> (and every key=value of match), each
    as a dict of its key=value fields (quotes removed)."""
    out = []
    for line in raven.log_text().splitlines():
        if ("event=%s" % event) not in line:
            continue
        fields = {}
        for k, v in _LOG_KV.findall(line):
            if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
                v = v[1:-1]
            fields[k] = v
        if fields.get("event") != event:
            continue
        fields["_line"] = line
        fields["_time"] = log_time(line)
        if all(fields.get(k) == str(v) for k, v in match.items()):
            out.append(fields)
    return out


def log_time(line):
    """Seconds since the epoch of a log line's leading UTC timestamp
    (2026-01-01T00:00:00.000Z), or None."""
    import calendar
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z", line)
    if not m:
        return None
    t = calendar.timegm(tuple(int(x) for x in m.groups()[:6]))
    return t + (float("0." + m.group(7)) if m.group(7) else 0.0)


def wait_log(raven, event, count=1, timeout=DELIVERY_TIMEOUT, **match):
    """Wait until the log has at least count event=<event> lines matching; return them."""
    def check():
        got = log_events(raven, event, **match)
        return got if len(got) >= count else None
    try:
        return wait_until(check, timeout, what="%d log line(s) event=%s %s"
                          % (count, event, match))
    except AssertionError as e:
        raise AssertionError("%s\n%s" % (e, raven.log_tail())) from None


def daemon_ids():
    """(uid, gid) of the user ravend drops to, or None when not running as root."""
    if os.geteuid() != 0:
        return None
    pw = pwd.getpwnam(run_user())
    return pw.pw_uid, pw.pw_gid


def mailbox_is_file(raven, user):
    """Make user's mailbox path a regular file: deliveries fail permanently."""
    os.makedirs(os.path.join(raven.data, "mail"), exist_ok=True)
    with open(raven.maildir(user), "w") as f:
        f.write("not a maildir\n")


def maildir_locked(raven, user):
    """Create user's Maildir owned by the daemon user, then mode 000: the
    delivery process (fsuid = daemon user) gets EACCES, a temporary failure."""
    md = raven.maildir(user)
    ids = daemon_ids()
    for p in (os.path.join(raven.data, "mail"), md):
        os.makedirs(p, exist_ok=True)
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    if ids:
        for p in (os.path.join(raven.data, "mail"), md, md + "/tmp", md + "/new", md + "/cur"):
            os.chown(p, *ids)
    os.chmod(md, 0)


def maildir_unlock(raven, user):
    os.chmod(raven.maildir(user), 0o700)


def sendmail(port, frm, rcpts, msg, mail_options=(), rcpt_options=()):
    """Send one message with smtplib (DSN options allowed); returns the queue id.
    Raises AssertionError unless every recipient and the data got 250."""
    import smtplib
    data = normalize(msg).replace(b"\n", b"\r\n")
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=20) as s:
        s.ehlo()
        code, resp = s.mail(frm, list(mail_options))
        assert code == 250, (code, resp)
        for r in rcpts:
            code, resp = s.rcpt(r, list(rcpt_options))
            assert code == 250, (r, code, resp)
        code, resp = s.data(data)
        assert code == 250, (code, resp)
        return queue_id(b"250 " + resp)


def parse_mail(raw):
    import email
    import email.policy
    return email.message_from_bytes(raw, policy=email.policy.default)


def dsn_parts(raw):
    """Check that raw is an RFC 3464 DSN and split it: returns
    (message, per-message fields, [per-recipient fields], third part)."""
    msg = parse_mail(raw)
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status", msg["Content-Type"]
    parts = msg.get_payload()
    assert len(parts) in (2, 3), [p.get_content_type() for p in parts]
    assert parts[0].get_content_type() == "text/plain", parts[0].get_content_type()
    assert parts[1].get_content_type() == "message/delivery-status", parts[1].get_content_type()
    fields = parts[1].get_payload()
    assert isinstance(fields, list) and len(fields) >= 2, fields
    return msg, fields[0], fields[1:], (parts[2] if len(parts) == 3 else None)


def dsn_field(block, name):
    """A DSN field's value with folding whitespace collapsed (None if absent)."""
    v = block.get(name)
    return None if v is None else " ".join(str(v).split())


def dsns_for(raven, user, qid):
    """DSNs in user's mailbox about original message qid (found by the queue id
    the report names), as parsed by dsn_parts, oldest file name first."""
    out = []
    for raw in raven.messages(user):
        msg = parse_mail(raw)
        if msg.get_content_type() != "multipart/report":
            continue
        if qid.encode() not in raw:
            continue
        out.append(dsn_parts(raw))
    return out


def wait_dsn(raven, user, qid, action, count=1, timeout=DELIVERY_TIMEOUT):
    """Wait until user has count DSNs about qid with a recipient Action: action."""
    def check():
        got = [d for d in dsns_for(raven, user, qid)
               if any(dsn_field(r, "Action") == action for r in d[2])]
        return got if len(got) >= count else None
    try:
        return wait_until(check, timeout, what="%d DSN(s) Action %s about %s for %s"
                          % (count, action, qid, user))
    except AssertionError as e:
        raise AssertionError("%s\n%s" % (e, raven.log_tail())) from None


def delivered_files(raven):
    """Every delivered file (new/ and cur/ of every mailbox) as {path: bytes};
    maildir tmp/ files are not deliveries."""
    out = {}
    root = os.path.join(raven.data, "mail")
    try:
        users = sorted(os.listdir(root))
    except OSError:
        return out
    for u in users:
        for sub in ("new", "cur"):
            d = os.path.join(root, u, sub)
            try:
                names = sorted(os.listdir(d))
            except OSError:
                continue
            for n in names:
                try:
                    with open(os.path.join(d, n), "rb") as fh:
                        out[os.path.join(d, n)] = fh.read()
                except OSError:
                    pass
    return out


def count_message_id(raven, token):
    """Delivered files whose own Message-ID is <token@test>, across all mailboxes
    (a DSN quoting that header in its attachment does not count)."""
    needle = ("\nMessage-ID: <%s@test>\n" % token).encode()
    n = 0
    for raw in delivered_files(raven).values():
        head = raw.split(b"\n\n", 1)[0] + b"\n"
        if needle in head:
            n += 1
    return n
