"""A scriptable SMTP server for tests of Raven's outbound client (the relay).

Standard library only (plus python3-cryptography, or the openssl command, for
the self-signed certificate). One thread listens, one thread serves each
connection; everything it saw is recorded under a lock.

    sink = SmtpSink(caps=("PIPELINING", "SIZE 1000000", "8BITMIME"),
                    starttls=True, auth={"user": "secret"})
    sink.set_reply("RCPT", "550 5.1.1 no such user", key="bob@example.org")
    sink.set_reply("RCPT", "452 4.5.3 too many", key=2)     # the third RCPT
    sink.set_reply("MAIL", ["451 4.7.1 greylisted", "250 2.1.0 ok"])
    sink.start()
    ... point the relay at sink.host:sink.port ...
    sink.wait_messages(1)
    msg = sink.messages[0]      # .mail_from .rcpts .data (dot-unstuffed) .tls
    sink.stop()

Replies, per command key -- "greeting", "EHLO", "HELO", "STARTTLS", "AUTH",
"MAIL", "RCPT", "DATA", "EOD" (after the final dot), "RSET", "NOOP", "QUIT":
- a string: sent as it is (lines separated by "\\n" for multi-line replies,
  each with its own "250-" / "250 " prefix);
- a list: one entry per occurrence of the command across all sessions, the
  last one repeating;
- a callable(session, argument) returning one of these;
- STALL: no reply, and the session reads and drops everything after it.
A reply whose code is 421 closes the connection after it is sent.
RCPT replies can be chosen by address (key="a@b", case-insensitive) or by the
RCPT's 0-based index within its transaction (key=1); the address wins.

Listener modes (set_mode or the constructor): "normal"; "stall" accepts and
never says anything; "drop" accepts and closes at once; "refuse" stops
listening, so connections are refused, until the mode changes back.

LMTP (RFC 2033), SmtpSink(lmtp=True): LHLO instead of EHLO/HELO (those get
500), and after the final dot one reply per accepted recipient, chosen with
set_reply("EOD", ..., key="a@b") or key=i (the i-th accepted RCPT, 0-based);
Message.eod_replies lists (address, reply) and Message.rcpts keeps only the
recipients whose reply was 2xx. unix_path="/x/sock" listens on a unix-domain
socket (mode 0666) instead of host:port.
"""

import base64
import binascii
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time

STALL = object()

DEFAULT_CAPS = ("PIPELINING", "SIZE 10240000", "8BITMIME", "ENHANCEDSTATUSCODES", "DSN",
                "SMTPUTF8")
MAX_LINE = 64 * 1024
MAX_MESSAGE = 64 * 1024 * 1024


class Message:
    """One transaction that reached the end of its data."""

    def __init__(self, session, mail_from, mail_params, rcpts, data, eod_reply):
        self.session = session.id
        self.mail_from = mail_from        # address without <>, "" for the null sender
        self.mail_params = mail_params    # text after "MAIL FROM:<...>", stripped
        self.rcpts = rcpts                # [(address, params)] of the accepted RCPTs
        self.data = data                  # bytes, dot-unstuffed, without the final ".\r\n"
        self.eod_reply = eod_reply        # what the sink answered to the end of data
        self.eod_replies = []             # LMTP: [(address, reply)] after the data
        self.tls = session.tls
        self.tls_version = session.tls_version
        self.auth = session.auth_identity

    @property
    def rcpt_addrs(self):
        return [a for a, _ in self.rcpts]

    def __repr__(self):
        return "<Message from=%r to=%r %d octets>" % (self.mail_from, self.rcpt_addrs,
                                                       len(self.data))


class Session:
    """One connection: everything the client sent and what came of it."""

    def __init__(self, sid, peer):
        self.id = sid
        self.peer = peer
        self.commands = []           # every line received, verbatim, without CRLF (str)
        self.helo = None             # the name given at the last EHLO/HELO
        self.tls = False
        self.tls_version = None      # e.g. "TLSv1.3"
        self.auth_identity = None    # user name after a successful AUTH
        self.transactions = 0        # MAIL commands accepted
        self.messages = []           # every Message, whatever the end-of-data reply
        self.plaintext_after_starttls = b""  # pipelined octets a client must not send
        self.closed = False

    def __repr__(self):
        return "<Session %d tls=%s auth=%r %d commands>" % (self.id, self.tls,
                                                            self.auth_identity,
                                                            len(self.commands))


def _make_cert(directory, hostname):
    """A self-signed certificate and key for hostname and 127.0.0.1 / ::1."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    try:
        import datetime
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        k = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
        now = datetime.datetime.now(datetime.timezone.utc)
        san = x509.SubjectAlternativeName([
            x509.DNSName(hostname),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ])
        c = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
             .public_key(k.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5))
             .not_valid_after(now + datetime.timedelta(days=2))
             .add_extension(san, critical=False)
             .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
             .sign(k, hashes.SHA256()))
        with open(key, "wb") as f:
            f.write(k.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
        with open(cert, "wb") as f:
            f.write(c.public_bytes(serialization.Encoding.PEM))
    except ImportError:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                        "/CN=" + hostname, "-addext",
                        "subjectAltName=DNS:%s,IP:127.0.0.1,IP:::1" % hostname,
                        "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
    return cert, key


def _format_reply(text):
    lines = [ln.rstrip("\r") for ln in text.split("\n")]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8", "surrogateescape")


def _code(text):
    m = re.match(r"(\d{3})", text)
    return int(m.group(1)) if m else 0


def _path(arg):
    """The address inside <> at the start of arg, and the rest (params)."""
    m = re.match(r"\s*<([^>]*)>\s*(.*)$", arg)
    if not m:
        return None, arg
    return m.group(1), m.group(2).strip()


class _Conn:
    """Buffered line I/O over a socket that may be upgraded to TLS."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def readline(self):
        """A line without its CRLF (a bare LF ends it too), or None at EOF."""
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 1:]
                return line[:-1] if line.endswith(b"\r") else line
            if len(self.buf) > MAX_LINE:
                return None
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data

    def read_data(self):
        """The DATA section up to the line ".", dot-unstuffed; None at EOF."""
        out = bytearray()
        while True:
            i = self.buf.find(b"\r\n")
            if i < 0:
                if len(self.buf) > MAX_LINE + MAX_MESSAGE:
                    return None
                data = self.sock.recv(65536)
                if not data:
                    return None
                self.buf += data
                continue
            line, self.buf = self.buf[:i], self.buf[i + 2:]
            if line == b".":
                return bytes(out)
            if line.startswith(b"."):
                line = line[1:]
            out += line + b"\r\n"
            if len(out) > MAX_MESSAGE:
                return None

    def send(self, data):
        self.sock.sendall(data)


class SmtpSink:
    def __init__(self, host="127.0.0.1", port=0, hostname="sink.test", caps=DEFAULT_CAPS,
                 starttls=False, auth=None, auth_mechs=("PLAIN", "LOGIN"),
                 auth_needs_tls=True, mode="normal", lmtp=False, unix_path=None):
        self.lmtp = lmtp
        self.unix_path = unix_path
        self.host = host
        self.port = port
        self.hostname = hostname
        self.caps = list(caps)
        self.starttls = starttls
        self.auth = dict(auth) if auth else None   # user -> password
        self.auth_mechs = list(auth_mechs)
        self.auth_needs_tls = auth_needs_tls
        self.mode = mode
        self.sessions = []
        self.messages = []          # messages whose end of data got a 2xx
        self._replies = {}          # (cmd, key) -> reply spec
        self._uses = {}             # (cmd, key) -> times used
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._listener = None
        self._threads = []
        self._socks = set()
        self._stopping = False
        self._queued = 0
        self._dir = tempfile.mkdtemp(prefix="smtpsink-")
        self.cert_path = self.key_path = None
        self._ctx = None
        if starttls:
            self.cert_path, self.key_path = _make_cert(self._dir, hostname)
            self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._ctx.load_cert_chain(self.cert_path, self.key_path)

    # ---- configuration ----

    def set_reply(self, cmd, reply, key=None):
        """Choose the reply to cmd (see the module comment); None restores the default."""
        cmd = cmd if cmd == "greeting" else cmd.upper()
        if isinstance(key, str):
            key = key.lower()
        with self._lock:
            if reply is None:
                self._replies.pop((cmd, key), None)
            else:
                self._replies[(cmd, key)] = reply
                self._uses[(cmd, key)] = 0

    def set_mode(self, mode):
        assert mode in ("normal", "stall", "drop", "refuse")
        with self._lock:
            old, self.mode = self.mode, mode
        if mode == "refuse" and old != "refuse":
            self._close_listener()
        elif old == "refuse" and mode != "refuse":
            self._listen()

    # ---- life cycle ----

    def start(self):
        if self.mode != "refuse":
            self._listen()
        else:  # reserve a port that refuses
            self._listen()
            self._close_listener()
        return self

    def stop(self):
        """Close the listener and every connection, and wait for the threads."""
        with self._lock:
            self._stopping = True
            socks = list(self._socks)
        self._close_listener()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
        for t in list(self._threads):
            t.join(timeout=5)
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def address(self):
        return (self.host, self.port)

    # ---- what happened ----

    @property
    def session_count(self):
        with self._lock:
            return len(self.sessions)

    @property
    def transaction_count(self):
        with self._lock:
            return sum(s.transactions for s in self.sessions)

    def wait_messages(self, n, timeout=10.0):
        """Wait until n messages were accepted; returns them (AssertionError on timeout)."""
        self._wait(lambda: len(self.messages) >= n, timeout, "%d message(s)" % n)
        return list(self.messages)

    def wait_sessions(self, n, timeout=10.0, closed=False):
        """Wait until n sessions started (or, with closed, also ended)."""
        def ok():
            ss = self.sessions
            return len(ss) >= n and (not closed or all(s.closed for s in ss[:n]))
        self._wait(ok, timeout, "%d session(s)" % n)
        return list(self.sessions)

    def _wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("smtpsink: no %s within %.1f s (sessions: %r)"
                                         % (what, timeout, self.sessions))
                self._cond.wait(left)

    # ---- internals ----

    def _listen(self):
        if self.unix_path is not None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            if os.path.exists(self.unix_path):
                os.unlink(self.unix_path)
            s.bind(self.unix_path)
            os.chmod(self.unix_path, 0o666)  # as Dovecot's lmtp socket
        else:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((self.host, self.port))
            self.port = s.getsockname()[1]
        s.listen(64)
        self._listener = s
        t = threading.Thread(target=self._accept_loop, args=(s,), daemon=True)
        self._threads.append(t)
        t.start()

    def _close_listener(self):
        s, self._listener = self._listener, None
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _accept_loop(self, lsock):
        while True:
            try:
                sock, peer = lsock.accept()
            except OSError:
                return
            with self._lock:
                if self._stopping:
                    sock.close()
                    return
                self._socks.add(sock)
                mode = self.mode
            t = threading.Thread(target=self._serve, args=(sock, peer, mode), daemon=True)
            self._threads.append(t)
            t.start()

    def _pick(self, cmd, key=None):
        """The configured reply spec for (cmd, key), or None."""
        with self._lock:
            k = (cmd, key)
            if k not in self._replies:
                return None
            spec = self._replies[k]
            if isinstance(spec, (list, tuple)):
                i = self._uses[k]
                self._uses[k] = i + 1
                spec = spec[min(i, len(spec) - 1)]
            return spec

    def _reply_for(self, sess, cmd, arg, default, keys=()):
        spec = None
        for key in keys:
            spec = self._pick(cmd, key)
            if spec is not None:
                break
        if spec is None:
            spec = self._pick(cmd)
        if spec is None:
            spec = default
        if callable(spec) and spec is not STALL:
            spec = spec(sess, arg)
        return spec

    def _serve(self, sock, peer, mode):
        sess = Session(0, peer)
        with self._cond:
            sess.id = len(self.sessions) + 1
            self.sessions.append(sess)
            self._cond.notify_all()
        try:
            if mode == "drop":
                return
            conn = _Conn(sock)
            if mode == "stall":
                while sock.recv(65536):
                    pass
                return
            self._session(conn, sess)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass
            with self._cond:
                self._socks.discard(sock)
                sess.closed = True
                self._cond.notify_all()

    def _stall(self, conn):
        while conn.sock.recv(65536):
            pass

    def _ehlo_reply(self, sess):
        lines = [self.hostname] + self.caps
        if self.starttls and not sess.tls:
            lines.append("STARTTLS")
        if self.auth is not None and (sess.tls or not self.auth_needs_tls):
            lines.append("AUTH " + " ".join(self.auth_mechs))
        return "\n".join("250%s%s" % ("-" if i < len(lines) - 1 else " ", ln)
                         for i, ln in enumerate(lines))

    def _send(self, conn, reply):
        """Send a reply; False when the session must end (421, STALL)."""
        if reply is STALL:
            self._stall(conn)
            return False
        conn.send(_format_reply(reply))
        return _code(reply) != 421

    def _session(self, conn, sess):
        greeting = self._reply_for(sess, "greeting", None,
                                   "220 %s ESMTP smtpsink" % self.hostname)
        if not self._send(conn, greeting):
            return
        greeted_ok = _code(greeting) == 220
        txn = None          # [mail_from, params, rcpts, rcpt_index] while a MAIL is open
        while True:
            raw = conn.readline()
            if raw is None:
                return
            line = raw.decode("utf-8", "surrogateescape")
            with self._lock:
                sess.commands.append(line)
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if not greeted_ok and verb != "QUIT":
                conn.send(b"503 5.5.1 Bad sequence of commands\r\n")
                continue
            if self.lmtp and verb in ("EHLO", "HELO"):
                conn.send(b"500 5.5.1 This is LMTP: LHLO, please\r\n")
            elif verb in ("EHLO", "HELO") or (self.lmtp and verb == "LHLO"):
                default = self._ehlo_reply(sess) if verb != "HELO" else "250 " + self.hostname
                reply = self._reply_for(sess, verb, arg, default)
                if _code(reply if reply is not STALL else "") // 100 == 2:
                    sess.helo = arg
                    txn = None
                if not self._send(conn, reply):
                    return
            elif verb == "STARTTLS":
                if not self.starttls or sess.tls:
                    default = "502 5.5.1 STARTTLS not offered"
                else:
                    default = "220 2.0.0 Ready to start TLS"
                reply = self._reply_for(sess, "STARTTLS", arg, default)
                if not self._send(conn, reply):
                    return
                if _code(reply) == 220 and self._ctx is not None and not sess.tls:
                    # Anything pipelined after STARTTLS is dropped (RFC 3207 §4.2)
                    # and kept as evidence against the client.
                    with self._lock:
                        sess.plaintext_after_starttls += conn.buf
                    conn.buf = b""
                    conn.sock = self._ctx.wrap_socket(conn.sock, server_side=True)
                    with self._lock:
                        sess.tls = True
                        sess.tls_version = conn.sock.version()
                        sess.helo = None
                    txn = None
            elif verb == "AUTH":
                if not self._auth(conn, sess, arg):
                    return
            elif verb == "MAIL":
                if sess.helo is None:
                    reply = "503 5.5.1 EHLO/HELO first"
                elif txn is not None:
                    reply = "503 5.5.1 Nested MAIL command"
                elif not arg.upper().startswith("FROM:"):
                    reply = "501 5.5.4 Syntax: MAIL FROM:<address>"
                else:
                    addr, params = _path(arg[5:])
                    if addr is None:
                        reply = "501 5.1.7 Bad sender address syntax"
                    else:
                        reply = self._reply_for(sess, "MAIL", arg, "250 2.1.0 Ok")
                        if reply is not STALL and _code(reply) // 100 == 2:
                            txn = [addr, params, [], 0]
                            with self._lock:
                                sess.transactions += 1
                if not self._send(conn, reply):
                    return
            elif verb == "RCPT":
                if txn is None:
                    reply = "503 5.5.1 MAIL first"
                elif not arg.upper().startswith("TO:"):
                    reply = "501 5.5.4 Syntax: RCPT TO:<address>"
                else:
                    addr, params = _path(arg[3:])
                    index = txn[3]
                    txn[3] += 1
                    if addr is None:
                        reply = "501 5.1.3 Bad recipient address syntax"
                    else:
                        reply = self._reply_for(sess, "RCPT", arg, "250 2.1.5 Ok",
                                                keys=(addr.lower(), index))
                        if reply is not STALL and _code(reply) // 100 == 2:
                            txn[2].append((addr, params))
                if not self._send(conn, reply):
                    return
            elif verb == "DATA":
                if txn is None:
                    reply = "503 5.5.1 MAIL first"
                elif not txn[2]:
                    reply = "554 5.5.1 No valid recipients"
                else:
                    reply = self._reply_for(sess, "DATA", arg,
                                            "354 End data with <CR><LF>.<CR><LF>")
                if not self._send(conn, reply):
                    return
                if _code(reply) != 354:
                    continue
                data = conn.read_data()
                if data is None:
                    return
                with self._lock:
                    self._queued += 1
                    qid = self._queued
                if self.lmtp:
                    if not self._lmtp_eod(conn, sess, txn, data, qid):
                        return
                    txn = None
                    continue
                reply = self._reply_for(sess, "EOD", None, "250 2.0.0 Ok: queued as S%d" % qid)
                if reply is not STALL:
                    msg = Message(sess, txn[0], txn[1], list(txn[2]), data, reply)
                    with self._cond:
                        sess.messages.append(msg)
                        if _code(reply) // 100 == 2:
                            self.messages.append(msg)
                        self._cond.notify_all()
                txn = None
                if not self._send(conn, reply):
                    return
            elif verb == "RSET":
                txn = None
                if not self._send(conn, self._reply_for(sess, "RSET", arg, "250 2.0.0 Ok")):
                    return
            elif verb == "NOOP":
                if not self._send(conn, self._reply_for(sess, "NOOP", arg, "250 2.0.0 Ok")):
                    return
            elif verb == "QUIT":
                self._send(conn, self._reply_for(sess, "QUIT", arg, "221 2.0.0 Bye"))
                return
            else:
                conn.send(b"500 5.5.2 Command not recognized\r\n")

    def _lmtp_eod(self, conn, sess, txn, data, qid):
        """RFC 2033 §4.2: a reply per accepted recipient; False: end the session."""
        msg = Message(sess, txn[0], txn[1], [], data, None)
        for i, (addr, params) in enumerate(txn[2]):
            reply = self._reply_for(sess, "EOD", None,
                                    "250 2.0.0 <%s> Ok: delivered as S%d" % (addr, qid),
                                    keys=(addr.lower(), i))
            if reply is STALL:
                self._stall(conn)
                return False
            msg.eod_replies.append((addr, reply))
            if _code(reply) // 100 == 2:
                msg.rcpts.append((addr, params))
            if msg.eod_reply is None:
                msg.eod_reply = reply
            if not self._send(conn, reply):
                self._record(sess, msg)
                return False
        self._record(sess, msg)
        return True

    def _record(self, sess, msg):
        with self._cond:
            sess.messages.append(msg)
            if msg.rcpts:
                self.messages.append(msg)
            self._cond.notify_all()

    def _auth(self, conn, sess, arg):
        """One AUTH exchange; False when the session must end."""
        mech, _, initial = arg.partition(" ")
        mech = mech.upper()
        offered = self.auth is not None and (sess.tls or not self.auth_needs_tls)
        override = self._reply_for(sess, "AUTH", arg, None)
        if override is not None:
            return self._send(conn, override)
        if not offered or mech not in self.auth_mechs:
            conn.send(b"504 5.5.4 Unrecognized authentication type\r\n")
            return True
        if sess.auth_identity is not None:
            conn.send(b"503 5.5.1 Already authenticated\r\n")
            return True

        def ask(challenge):
            conn.send(("334 " + challenge + "\r\n").encode())
            line = conn.readline()
            if line is None:
                return None
            text = line.decode("ascii", "replace")
            with self._lock:
                sess.commands.append(text)
            return text

        try:
            if mech == "PLAIN":
                resp = initial if initial else ask("")
                if resp is None:
                    return False
                if resp == "*":
                    conn.send(b"501 5.7.0 Authentication cancelled\r\n")
                    return True
                parts = base64.b64decode(resp, validate=True).split(b"\0")
                if len(parts) != 3:
                    raise ValueError("bad PLAIN response")
                user, password = parts[1].decode(), parts[2].decode()
            else:
                # An initial response is the user name (smtplib sends one).
                u = initial if initial else ask("VXNlcm5hbWU6")
                if u is None:
                    return False
                p = ask("UGFzc3dvcmQ6")
                if p is None:
                    return False
                user = base64.b64decode(u, validate=True).decode()
                password = base64.b64decode(p, validate=True).decode()
        except (ValueError, binascii.Error, UnicodeDecodeError):
            conn.send(b"501 5.5.2 Cannot decode response\r\n")
            return True
        if self.auth.get(user) == password:
            with self._lock:
                sess.auth_identity = user
            conn.send(b"235 2.7.0 Authentication successful\r\n")
        else:
            conn.send(b"535 5.7.8 Authentication credentials invalid\r\n")
        return True
