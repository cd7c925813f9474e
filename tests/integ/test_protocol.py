"""The SMTP conversation as RFC 5321 and the daemon contract want it, spoken
byte by byte over a raw socket so the client adds no repairs of its own."""

import socket
import time

import pytest

import raven as rv

MAIL = "MAIL FROM:<sender@remote.test>"


def simple_data(token, to="alice@example.org"):
    return rv.dot_stuff_crlf(rv.make_message(token, to=to))


def test_greeting_and_ehlo_extensions(shared_raven):
    with rv.RawSMTP(shared_raven.port) as s:
        g = s.greeting()
        assert g.code == 220 and rv.HOSTNAME in g.text, g
        r = s.ehlo()
        assert rv.HOSTNAME in r.lines[0]
        kw = {l.split()[0].upper(): l.split()[1:] for l in r.lines[1:] if l.strip()}
        for ext in ("PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "DSN", "ENHANCEDSTATUSCODES"):
            assert ext in kw, "EHLO does not advertise %s: %r" % (ext, r.lines)
        assert len(kw["SIZE"]) == 1 and int(kw["SIZE"][0]) in (100 * 1024, 100 * 1000), kw


def test_helo_works(shared_raven):
    with rv.RawSMTP(shared_raven.port) as s:
        s.greeting()
        r = s.cmd("HELO client.test")
        assert r.code == 250, r
        assert s.cmd(MAIL).code == 250


def test_pipelined_transaction(shared_raven):
    token = rv.unique("pipe")
    with rv.session(shared_raven.port) as s:
        s.send(MAIL + "\r\nRCPT TO:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\n"
               "RCPT TO:<nosuch@example.org>\r\nDATA\r\n")
        codes = [s.reply() for _ in range(5)]
        assert [r.code for r in codes] == [250, 250, 250, 550, 354], codes
        s.send(simple_data(token) + b".\r\nQUIT\r\n")
        final = s.reply()
        assert final.code == 250 and final.enh == "2.0.0", final
        assert s.reply().code == 221
        assert s.is_closed()
    shared_raven.wait_for("alice", token)
    shared_raven.wait_for("bob", token)


# (commands before, command, expected code, expected enhanced code(s))
AFTER_MAIL = ["EHLO client.test", MAIL]
BAD_SYNTAX = [
    ([], "FROBNICATE", 500, ("5.5.1",)),
    ([], "EHLO", 501, ("5.5.4",)),
    ([], "HELO", 501, ("5.5.4",)),
    (["EHLO c"], "MAIL", 501, ("5.5.4",)),
    (["EHLO c"], "MAIL TO:<a@remote.test>", 501, ("5.5.4",)),
    (["EHLO c"], "MAIL FROM:<a@@remote.test>", 501, ("5.1.7",)),
    (["EHLO c"], "MAIL FROM:<a b@remote.test>", 501, ("5.1.7",)),
    (["EHLO c"], "MAIL FROM:<a@remote.test", 501, ("5.1.7", "5.5.4")),
    (["EHLO c"], "MAIL FROM:<a@remote..test>", 501, ("5.1.7",)),
    (["EHLO c"], "MAIL FROM:<sender@remote.test> SIZE=abc", 501, ("5.5.4",)),
    (["EHLO c"], "MAIL FROM:<sender@remote.test> BODY=9BIT", 501, ("5.5.4",)),
    (["EHLO c"], "MAIL FROM:<sender@remote.test> FOO=bar", 555, ("5.5.4",)),
    (["EHLO c"], "MAIL FROM:<sender@remote.test> SIZE=1 SIZE=2", 501, ("5.5.4",)),
    (AFTER_MAIL, "RCPT", 501, ("5.5.4",)),
    (AFTER_MAIL, "RCPT FROM:<alice@example.org>", 501, ("5.5.4",)),
    (AFTER_MAIL, "RCPT TO:<>", 501, ("5.1.3",)),
    (AFTER_MAIL, "RCPT TO:<@>", 501, ("5.1.3",)),
    (AFTER_MAIL, "RCPT TO:<alice@exa mple.org>", 501, ("5.1.3",)),
    (AFTER_MAIL, "RCPT TO:<alice@example..org>", 501, ("5.1.3",)),
    (AFTER_MAIL, "RCPT TO:<alice@example.org> FOO=bar", 555, ("5.5.4",)),
    (AFTER_MAIL, "RCPT TO:<nosuch@example.org>", 550, ("5.1.1",)),
    (AFTER_MAIL, "RCPT TO:<alice@remote.test>", 550, ("5.7.1",)),
    (AFTER_MAIL, "RCPT TO:<alice%remote.test@example.org>", 550, ("5.1.1", "5.7.1")),
    (AFTER_MAIL, "RCPT TO:<@relay.test:alice@remote.test>", (550, 501), ("5.7.1", "5.1.3")),
    (["EHLO c"], "VRFY alice", 252, ("2.1.5", "2.5.0", "2.7.0", "2.0.0")),
    (["EHLO c"], "VRFY", 501, ("5.5.4",)),
    (["EHLO c"], "MAIL FROM:<sender@remote.test> SMTPUTF8=yes", 501, ("5.5.4",)),
]


def _ids(case):
    return case[1].split(" ")[0] + ":" + case[1][:40]


@pytest.mark.parametrize("before,line,code,enh", BAD_SYNTAX, ids=[_ids(c) for c in BAD_SYNTAX])
def test_reply_codes(shared_raven, before, line, code, enh):
    with rv.RawSMTP(shared_raven.port) as s:
        assert s.greeting().code == 220
        for b in before:
            r = s.cmd(b)
            assert r.code == 250, (b, r)
        r = s.cmd(line)
        assert r.code in (code if isinstance(code, tuple) else (code,)), "%r -> %r" % (line, r)
        assert r.enh in enh, "%r -> %r (want %s)" % (line, r, enh)
        # every refusal leaves the session usable
        assert s.cmd("NOOP").code == 250


@pytest.mark.parametrize("before,line", [
    ([], MAIL),
    (["EHLO c"], "RCPT TO:<alice@example.org>"),
    (["EHLO c"], "DATA"),
    (AFTER_MAIL, MAIL),
])
def test_bad_sequence(shared_raven, before, line):
    with rv.RawSMTP(shared_raven.port) as s:
        assert s.greeting().code == 220
        for b in before:
            assert s.cmd(b).code == 250
        r = s.cmd(line)
        assert (r.code, r.enh) == (503, "5.5.1"), r


def test_data_without_valid_recipient(shared_raven):
    with rv.session(shared_raven.port) as s:
        assert s.cmd(MAIL).code == 250
        assert s.cmd("RCPT TO:<nosuch@example.org>").code == 550
        r = s.cmd("DATA")
        assert (r.code, r.enh) == (503, "5.5.1"), r
        assert s.cmd("NOOP").code == 250


def test_rset_noop_help_vrfy_quit(shared_raven):
    token = rv.unique("rset")
    with rv.session(shared_raven.port) as s:
        assert s.cmd(MAIL).code == 250
        assert s.cmd("RCPT TO:<alice@example.org>").code == 250
        r = s.cmd("RSET")
        assert (r.code, r.enh) == (250, "2.0.0"), r
        # the transaction is gone
        r = s.cmd("RCPT TO:<alice@example.org>")
        assert r.code == 503, r
        r = s.cmd("DATA")
        assert r.code == 503, r
        r = s.cmd("NOOP")
        assert (r.code, r.enh) == (250, "2.0.0"), r
        r = s.cmd("HELP")
        assert r.code in (211, 214), r
        r = s.cmd("VRFY bob")
        assert r.code == 252, r
        # and a new one works
        assert s.cmd(MAIL).code == 250
        assert s.cmd("RCPT TO:<bob@example.org>").code == 250
        assert s.cmd("DATA").code == 354
        s.send(simple_data(token, to="bob@example.org") + b".\r\n")
        assert s.reply().code == 250
        r = s.cmd("QUIT")
        assert (r.code, r.enh) == (221, "2.0.0"), r
        assert s.is_closed()
    shared_raven.wait_for("bob", token)
    assert shared_raven.find("alice", token) == []


def test_lowercase_verbs(shared_raven):
    with rv.RawSMTP(shared_raven.port) as s:
        s.greeting()
        assert s.cmd("ehlo client.test").code == 250
        assert s.cmd("mail from:<sender@remote.test>").code == 250
        assert s.cmd("rcpt to:<alice@example.org>").code == 250
        assert s.cmd("rset").code == 250


def test_overlong_command_line(shared_raven):
    with rv.session(shared_raven.port) as s:
        r = s.cmd("NOOP " + "x" * 2100)
        assert (r.code, r.enh) == (500, "5.5.2"), r
        r = s.cmd("MAIL FROM:<" + "a" * 2100 + "@remote.test>")
        assert (r.code, r.enh) == (500, "5.5.2"), r
        # exactly 2048 octets with CRLF is a line (the default limit); the
        # command then refuses an argument that long for what it is
        r = s.cmd("NOOP " + "y" * (2048 - 7))
        assert (r.code, r.enh) == (501, "5.5.4"), r
        r = s.cmd("NOOP " + "y" * (2049 - 7))
        assert (r.code, r.enh) == (500, "5.5.2"), r
        assert s.cmd(MAIL).code == 250


def test_command_line_limit_configurable(factory):
    raven = factory(extra=["limits command-line 512"])
    with rv.session(raven.port) as s:
        assert s.cmd("NOOP " + "y" * (512 - 7)).code == 250
        r = s.cmd("NOOP " + "y" * (513 - 7))
        assert (r.code, r.enh) == (500, "5.5.2"), r


def test_overlong_text_line_refused(shared_raven):
    token = rv.unique("longline")
    with rv.session(shared_raven.port) as s:
        assert s.cmd(MAIL).code == 250
        assert s.cmd("RCPT TO:<alice@example.org>").code == 250
        assert s.cmd("DATA").code == 354
        s.send(simple_data(token) + b"x" * 5000 + b"\r\n.\r\n")
        r = s.reply()
        assert 500 <= r.code < 600, r
    shared_raven.assert_not_delivered(token, users=["alice"])


def test_size_parameter_too_big(shared_raven):
    with rv.session(shared_raven.port) as s:
        r = s.cmd("MAIL FROM:<sender@remote.test> SIZE=99000")
        assert r.code == 250, r
        assert s.cmd("RSET").code == 250
        r = s.cmd("MAIL FROM:<sender@remote.test> SIZE=200000")
        assert (r.code, r.enh) == (552, "5.3.4"), r
        r = s.cmd("MAIL FROM:<sender@remote.test> SIZE=99999999999999999999999")
        assert r.code in (552, 501), r
        assert s.cmd(MAIL).code == 250


def test_size_exceeded_while_streaming(shared_raven):
    token = rv.unique("stream")
    big = rv.make_message(token, body=("z" * 70 + "\n") * 3000)  # ~213 KB
    with rv.session(shared_raven.port) as s:
        assert s.cmd("MAIL FROM:<sender@remote.test> SIZE=1000").code == 250
        assert s.cmd("RCPT TO:<alice@example.org>").code == 250
        assert s.cmd("DATA").code == 354
        s.send(rv.dot_stuff_crlf(big) + b".\r\n")
        r = s.reply()
        assert (r.code, r.enh) == (552, "5.3.4"), r
    shared_raven.assert_not_delivered(token, users=["alice"])


def test_too_many_recipients(shared_raven):
    token = rv.unique("rcpts")
    users = ["alice", "bob", "carol", "dave", "erin", "frank", "grace"]
    with rv.session(shared_raven.port) as s:
        assert s.cmd(MAIL).code == 250
        replies = [s.cmd("RCPT TO:<%s@example.org>" % u) for u in users]
        assert [r.code for r in replies[:5]] == [250] * 5, replies
        for r in replies[5:]:
            assert (r.code, r.enh) == (452, "4.5.3"), replies
        assert s.cmd("DATA").code == 354
        s.send(simple_data(token) + b".\r\n")
        assert s.reply().code == 250
    for u in users[:5]:
        assert len(shared_raven.wait_for(u, token)) == 1
    shared_raven.assert_not_delivered(token, users=users[5:], settle=0.5)


@pytest.mark.parametrize("end", [b"\n.\n", b"\r\n.\n", b"\n.\r\n", b"\r.\r", b"\r\n.\r\r\n",
                                 b"\r\n.\r"])
def test_bare_lf_smuggling(shared_raven, end):
    outer, inner = rv.unique("outer"), rv.unique("inner")
    smuggled = (b"MAIL FROM:<evil@remote.test>" + end[-1:] + b"RCPT TO:<bob@example.org>"
                + end[-1:] + b"DATA" + end[-1:]
                + ("Message-ID: <%s@test>\r\nSubject: smuggled\r\n\r\nsmuggled\r\n" % inner).encode())
    with rv.session(shared_raven.port) as s:
        assert s.cmd(MAIL).code == 250
        assert s.cmd("RCPT TO:<alice@example.org>").code == 250
        assert s.cmd("DATA").code == 354
        s.send(("Message-ID: <%s@test>\r\nSubject: outer\r\n\r\nouter body" % outer).encode()
               + end + smuggled + b".\r\n")
        r = s.reply()
        assert 500 <= r.code < 600, "bare CR/LF message accepted: %r" % r
        # nothing else must come back: no reply to smuggled commands
        try:
            s.send(b"QUIT\r\n")
            rest = []
            while True:
                rest.append(s.reply())
        except (rv.Closed, OSError):
            pass
        assert all(x.code != 250 and x.code != 354 for x in rest), rest
    shared_raven.assert_not_delivered(outer, users=["alice", "bob"], settle=0.3)
    shared_raven.assert_not_delivered(inner, users=["alice", "bob"], settle=0.3)


def _hops_message(token, n):
    hdr = "".join("Received: from h%d.remote.test by h%d.remote.test; "
                  "Thu, 01 Jan 2026 00:00:00 +0000\r\n" % (i, i + 1) for i in range(n))
    return hdr.encode() + simple_data(token)


def test_hop_count_exceeded(shared_raven):
    token = rv.unique("loop")
    rr, final = rv.send_raw(shared_raven.port, "s@remote.test", ["alice@example.org"],
                            _hops_message(token, 101))
    assert (final.code, final.enh) == (554, "5.4.6"), final
    shared_raven.assert_not_delivered(token, users=["alice"], settle=0.3)


def test_hop_count_below_limit(shared_raven):
    token = rv.unique("hops")
    rr, final = rv.send_raw(shared_raven.port, "s@remote.test", ["alice@example.org"],
                            _hops_message(token, 50))
    assert final.code == 250, final
    shared_raven.wait_for("alice", token)


def test_errors_per_session(factory):
    raven = factory(errors=3)
    with rv.session(raven.port) as s:
        got = []
        for i in range(6):
            try:
                r = s.cmd("BOGUS%d" % i)
            except rv.Closed:
                break
            got.append(r)
            if r.code == 421:
                break
        assert got and got[-1].code == 421, got
        assert len(got) <= 4, "421 came only after %d errors with a limit of 3: %r" % (len(got), got)
        assert s.is_closed(), "connection still open after 421"


def test_per_ip_connection_limit(factory):
    raven = factory(per_ip=3, connections=10)
    conns = [rv.RawSMTP(raven.port) for _ in range(3)]
    try:
        for c in conns:
            assert c.greeting().code == 220
        with rv.RawSMTP(raven.port) as extra:
            g = extra.greeting()
            assert (g.code, g.enh) == (421, "4.7.0"), g
            assert extra.is_closed()
        # another address is not affected by 127.0.0.1's count
        with rv.RawSMTP(raven.port, source="127.0.0.2") as other:
            assert other.greeting().code == 220
        # a freed slot can be used again
        conns[0].cmd("QUIT")
        conns[0].close()

        def try_again():
            with rv.RawSMTP(raven.port) as again:
                return again.greeting().code == 220
        rv.wait_until(try_again, 5, interval=0.2, what="a free per-IP slot after QUIT")
    finally:
        for c in conns:
            c.close()


def test_total_connection_limit(factory):
    raven = factory(per_ip=3, connections=4)
    conns = []
    try:
        for src in ("127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.3"):
            c = rv.RawSMTP(raven.port, source=src)
            conns.append(c)
            assert c.greeting().code == 220
        with rv.RawSMTP(raven.port, source="127.0.0.4") as extra:
            g = extra.greeting()
            assert (g.code, g.enh) == (421, "4.7.0"), g
            assert extra.is_closed()
        # the ones inside the limit still work
        conns[2].ehlo()
        assert conns[2].cmd(MAIL).code == 250
    finally:
        for c in conns:
            c.close()


def test_idle_session_timeout(factory):
    raven = factory(timeout=2)
    with rv.session(raven.port) as s:
        t0 = time.monotonic()
        s.sock.settimeout(15)
        r = s.reply()
        waited = time.monotonic() - t0
        assert r.code == 421, r
        assert 1.0 <= waited <= 10, "timeout after %.1fs, configured 2s" % waited
        assert s.is_closed()
    # the daemon is still serving
    with rv.session(raven.port) as s:
        assert s.cmd(MAIL).code == 250


def test_client_dropping_connections_does_not_hurt(shared_raven):
    for i in range(20):
        sk = socket.create_connection(("127.0.0.1", shared_raven.port))
        if i % 2:
            sk.sendall(b"EHLO x\r\nMAIL FROM:<a@b.test>\r\n")
        sk.close()
    token = rv.unique("after-drops")
    rr, final = rv.send_raw(shared_raven.port, "s@remote.test", ["alice@example.org"],
                            simple_data(token))
    assert final.code == 250, final
    shared_raven.wait_for("alice", token)


def test_ehlo_resets_transaction(shared_raven):
    with rv.session(shared_raven.port) as s:
        assert s.cmd(MAIL).code == 250
        assert s.cmd("RCPT TO:<alice@example.org>").code == 250
        s.ehlo("again.test")
        r = s.cmd("DATA")
        assert r.code == 503, "EHLO did not reset the transaction: %r" % r
        assert s.cmd(MAIL).code == 250


def test_pipelined_rset_and_quit(shared_raven):
    with rv.session(shared_raven.port) as s:
        s.send(MAIL + "\r\nRCPT TO:<alice@example.org>\r\nRSET\r\nNOOP\r\nQUIT\r\n")
        codes = [s.reply().code for _ in range(5)]
        assert codes == [250, 250, 250, 250, 221], codes
        assert s.is_closed()


def test_client_that_does_not_read_replies(shared_raven):
    """Pipelined commands from a client that does not read: the replies back
    up, the server stops reading (its output is capped), serves others
    meanwhile, and once the client reads, every reply arrives, in order."""
    import threading
    n = 60000  # 840 KB of "250 2.0.0 Ok" replies: past the cap and the socket buffers
    s = rv.RawSMTP(shared_raven.port)
    s.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    try:
        assert s.greeting().code == 220
        s.ehlo()
        flood = threading.Thread(target=s.send, args=(b"NOOP\r\n" * n + b"QUIT\r\n",))
        flood.daemon = True
        flood.start()
        time.sleep(1.0)
        # the stalled session holds nobody else up
        with rv.session(shared_raven.port) as other:
            assert other.cmd("NOOP").code == 250
        s.sock.settimeout(20)
        got = s.buf
        while got.count(b"\r\n") < n + 1:
            chunk = s.sock.recv(1 << 20)
            assert chunk, "closed after %d replies" % got.count(b"\r\n")
            got += chunk
        flood.join(10)
        assert not flood.is_alive()
        lines = got.split(b"\r\n")
        assert lines[:n] == [b"250 2.0.0 Ok"] * n, set(lines[:n])
        assert lines[n].startswith(b"221 "), lines[n]
        s.buf = b"".join(l + b"\r\n" for l in lines[n + 1:-1]) + lines[-1]
        assert s.is_closed()
    finally:
        s.close()


def test_text_line_at_limit(shared_raven):
    """1000 octets with CRLF is the longest line RFC 5321 guarantees; it passes intact."""
    token = rv.unique("998")
    line = b"L" * 998
    data = rv.dot_stuff_crlf(rv.make_message(token)) + line + b"\r\n"
    rr, final = rv.send_raw(shared_raven.port, "s@remote.test", ["alice@example.org"], data)
    assert final.code == 250, final
    got = shared_raven.wait_for("alice", token)[0]
    assert got.endswith(b"\n" + line + b"\n")


def test_configured_text_line_limit(factory):
    raven = factory(extra=["limits text-line 2000"])
    token = rv.unique("1500")
    line = b"M" * 1500
    rr, final = rv.send_raw(raven.port, "s@remote.test", ["alice@example.org"],
                            rv.dot_stuff_crlf(rv.make_message(token)) + line + b"\r\n")
    assert final.code == 250, final
    assert raven.wait_for("alice", token)[0].endswith(b"\n" + line + b"\n")
    token2 = rv.unique("2100")
    rr, final = rv.send_raw(raven.port, "s@remote.test", ["alice@example.org"],
                            rv.dot_stuff_crlf(rv.make_message(token2)) + b"N" * 2100 + b"\r\n")
    assert 500 <= final.code < 600, final
    raven.assert_not_delivered(token2, users=["alice"], settle=0.3)


@pytest.mark.parametrize("phase", ["greeting", "command", "data"])
def test_idle_timeout_each_phase(factory, phase):
    raven = factory(timeout=1)
    token = rv.unique("idle-" + phase)
    with rv.RawSMTP(raven.port) as s:
        assert s.greeting().code == 220
        if phase != "greeting":
            s.ehlo()
        if phase == "data":
            assert s.cmd(MAIL).code == 250
            assert s.cmd("RCPT TO:<alice@example.org>").code == 250
            assert s.cmd("DATA").code == 354
            s.send(("Message-ID: <%s@test>\r\n\r\npartial" % token).encode())
        s.sock.settimeout(10)
        t0 = time.monotonic()
        r = s.reply()
        assert r.code == 421, r
        assert time.monotonic() - t0 < 8
        assert s.is_closed()
    if phase == "data":
        rv.wait_until(lambda: not raven.queue_files("data"), 5,
                      what="the timed-out message's spool file to go")
        raven.assert_not_delivered(token, users=["alice"], settle=0.3)


def _sized_data(token, n):
    """CRLF message data of exactly n octets (RFC 1870 counting: no
    dot-stuffing, no final '.')."""
    head = rv.dot_stuff_crlf(rv.make_message(token, body=""))
    pad, out = n - len(head), [head]
    assert pad > 10
    while pad > 0:
        k = min(pad, 900)
        if pad - k in (1,):  # never leave a remainder too short for a CRLF line
            k -= 2
        out.append(b"x" * (k - 2) + b"\r\n")
        pad -= k
    data = b"".join(out)
    assert len(data) == n
    return data


def test_size_limit_is_exact(shared_raven):
    """RFC 1870: a message of exactly the advertised SIZE is accepted, one octet more is not."""
    with rv.RawSMTP(shared_raven.port) as s:
        s.greeting()
        r = s.ehlo()
    limit = int([l for l in r.lines if l.upper().startswith("SIZE")][0].split()[1])
    with rv.session(shared_raven.port) as s:
        assert s.cmd("MAIL FROM:<s@remote.test> SIZE=%d" % limit).code == 250
        assert s.cmd("RSET").code == 250
        r = s.cmd("MAIL FROM:<s@remote.test> SIZE=%d" % (limit + 1))
        assert (r.code, r.enh) == (552, "5.3.4"), r
    ok, big = rv.unique("exact"), rv.unique("over")
    rr, final = rv.send_raw(shared_raven.port, "s@remote.test", ["alice@example.org"],
                            _sized_data(ok, limit))
    assert final.code == 250, final
    rr, final = rv.send_raw(shared_raven.port, "s@remote.test", ["alice@example.org"],
                            _sized_data(big, limit + 1))
    assert (final.code, final.enh) == (552, "5.3.4"), final
    shared_raven.wait_for("alice", ok)
    shared_raven.assert_not_delivered(big, users=["alice"], settle=0.3)


def test_hop_count_boundary_and_body(shared_raven):
    # exactly 100 is still allowed; folded and lower-case headers count; lines
    # that look like Received: in the body do not
    def msg(n, name="Received", fold=False, in_body=False):
        tok = rv.unique("hop")
        one = ("%s: from a\r\n\tby b; Thu, 01 Jan 2026 00:00:00 +0000\r\n" if fold else
               "%s: from a by b; Thu, 01 Jan 2026 00:00:00 +0000\r\n") % name
        if in_body:
            return tok, rv.dot_stuff_crlf(rv.make_message(tok)) + (one * n).encode()
        return tok, (one * n).encode() + rv.dot_stuff_crlf(rv.make_message(tok))
    cases = [((100,), 250), ((101, "received"), 554), ((101, "Received", True), 554),
             ((150, "Received", False, True), 250)]
    for args, want in cases:
        tok, data = msg(*args)
        rr, final = rv.send_raw(shared_raven.port, "s@remote.test", ["alice@example.org"], data)
        assert final.code == want, (args, final)
        if want == 250:
            shared_raven.wait_for("alice", tok)


def test_nul_in_command(shared_raven):
    with rv.session(shared_raven.port) as s:
        r = s.cmd("MAIL FROM:<a\x00b@remote.test>")
        assert 500 <= r.code < 600, r
        assert s.cmd(MAIL).code == 250


def test_malformed_dsn_parameters_are_dropped_not_refused(shared_raven):
    """ORCPT and ENVID only decorate a future DSN: a malformed one is logged
    (escaped) and ignored, and the mail is accepted, never refused with 501
    (a relay would bounce it). Well-formed values are still kept."""
    token = rv.unique("dsnparam")
    with rv.session(shared_raven.port) as s:
        r = s.cmd(MAIL + " ENVID=%s+GG" % token)
        assert r.code == 250, r
        r = s.cmd('RCPT TO:<alice@example.org> NOTIFY=FAILURE ORCPT=rfc822;"%s"\x01+4' % token)
        assert r.code == 250, r
        r = s.cmd("RCPT TO:<bob@example.org> ORCPT=rfc822;bj+C3+B8rn@example.org")
        assert r.code == 250, r
        r = s.cmd("RCPT TO:<carol@example.org> ORCPT=x400;c+3Dde+3Ba+3Dx")
        assert r.code == 250, r
        assert s.cmd("DATA").code == 354
        s.send(simple_data(token) + b".\r\n")
        assert s.reply().code == 250
    for u in ("alice", "bob", "carol"):
        shared_raven.wait_for(u, token)
    envid = rv.wait_log(shared_raven, "envid-ignored", value=token + "+GG")
    assert envid[0]["reason"] == "bad xtext", envid
    orcpt = rv.wait_log(shared_raven, "orcpt-ignored", rcpt="alice@example.org")
    mine = [e for e in orcpt if token in e["_line"]]
    assert mine, orcpt
    # the client's quote and control octet are escaped in the log line
    assert '\\"%s\\"\\x01+4' % token in mine[0]["_line"], mine[0]["_line"]
    assert "\x01" not in shared_raven.log_text()
    assert mine[0]["reason"] == "not an esmtp-value (control, space or '=')", mine[0]
    carol = rv.wait_log(shared_raven, "orcpt-ignored", rcpt="carol@example.org")
    assert carol[-1]["reason"] == "unknown address type", carol
    # Postfix's form for an SMTPUTF8 recipient is valid xtext: kept, not logged
    assert not rv.log_events(shared_raven, "orcpt-ignored", rcpt="bob@example.org")
