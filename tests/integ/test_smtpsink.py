"""The test SMTP sink (smtpsink.py) proved against a client nobody on the team
wrote: Python's smtplib, plus raw sockets where smtplib cannot do it
(pipelined input, STARTTLS injection). The relay's integration tests rely on
everything checked here."""

import smtplib
import socket
import ssl
import time

import pytest

from smtpsink import STALL, SmtpSink

MSG = (b"From: a@client.test\r\nTo: b@example.org\r\nSubject: hi\r\n\r\n"
       b"line one\r\n.leading dot\r\n..two dots\r\n.\r\nlast\r\n")


@pytest.fixture
def make_sink():
    """make_sink(**options): a started sink, stopped after the test."""
    sinks = []

    def make(**opts):
        s = SmtpSink(**opts).start()
        sinks.append(s)
        return s
    yield make
    for s in sinks:
        s.stop()


@pytest.fixture
def sink(make_sink):
    return make_sink()


def client(sink, timeout=5):
    return smtplib.SMTP(sink.host, sink.port, local_hostname="client.test", timeout=timeout)


def raw(sink, timeout=5):
    s = socket.create_connection(sink.address, timeout=timeout)
    f = s.makefile("rb")
    return s, f


def read_reply(f):
    lines = []
    while True:
        line = f.readline()
        assert line, "connection closed"
        lines.append(line.decode())
        if line[3:4] != b"-":
            return "".join(lines)


def test_plain_delivery(sink):
    with client(sink) as c:
        code, text = c.ehlo()
        assert code == 250
        assert c.has_extn("pipelining") and c.has_extn("8bitmime") and c.has_extn("dsn")
        assert not c.has_extn("starttls") and not c.has_extn("auth")
        assert c.sendmail("a@client.test", ["b@example.org"], MSG) == {}
    msg = sink.wait_messages(1)[0]
    assert msg.mail_from == "a@client.test"
    assert msg.rcpt_addrs == ["b@example.org"]
    # smtplib stuffs, the sink unstuffs: the very octets that were given
    assert msg.data == MSG
    assert msg.tls is False and msg.auth is None
    assert msg.eod_reply.startswith("250 2.0.0 Ok: queued as S1")
    s = sink.wait_sessions(1, closed=True)[0]
    # verbatim, as smtplib writes them (it adds size= itself)
    assert s.commands == ["ehlo client.test", "mail FROM:<a@client.test> size=%d" % len(MSG),
                          "rcpt TO:<b@example.org>", "data", "QUIT"]
    assert s.helo == "client.test"
    assert sink.session_count == 1 and sink.transaction_count == 1


def test_empty_sender_and_params(sink):
    with client(sink) as c:
        c.ehlo()
        c.sendmail("", ["b@example.org"], b"x\r\n", mail_options=["BODY=8BITMIME", "SIZE=3"],
                   rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;b@example.org"])
    msg = sink.wait_messages(1)[0]
    assert msg.mail_from == ""
    assert msg.mail_params == "size=3 BODY=8BITMIME SIZE=3"  # smtplib's size= and ours
    assert msg.rcpts == [("b@example.org", "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@example.org")]


def test_starttls_and_auth(make_sink):
    sink = make_sink(starttls=True, auth={"user": "secret"})
    ctx = ssl.create_default_context(cafile=sink.cert_path)
    with client(sink) as c:
        c.ehlo()
        assert c.has_extn("starttls")
        assert not c.has_extn("auth")  # only over TLS
        c.starttls(context=ctx)        # verifies the certificate for 127.0.0.1
        c.ehlo()
        assert not c.has_extn("starttls")
        assert "PLAIN" in c.esmtp_features["auth"] and "LOGIN" in c.esmtp_features["auth"]
        c.login("user", "secret")
        c.sendmail("a@client.test", ["b@example.org"], MSG)
    msg = sink.wait_messages(1)[0]
    assert msg.tls is True
    assert msg.tls_version in ("TLSv1.2", "TLSv1.3")
    assert msg.auth == "user"
    s = sink.sessions[0]
    assert s.tls and s.auth_identity == "user"
    assert "STARTTLS" in s.commands
    assert any(cmd.upper().startswith("AUTH PLAIN ") for cmd in s.commands)
    assert s.plaintext_after_starttls == b""


def test_auth_login_and_refusal(make_sink):
    sink = make_sink(starttls=True, auth={"user": "secret"})
    ctx = ssl.create_default_context(cafile=sink.cert_path)
    with client(sink) as c:
        c.starttls(context=ctx)
        c.ehlo()
        c.user, c.password = "user", "secret"
        code, _ = c.auth("LOGIN", c.auth_login)  # user name as initial response
        assert code == 235
        assert c.auth("LOGIN", c.auth_login, initial_response_ok=False)[0] == 503
    assert sink.wait_sessions(1, closed=True)[0].auth_identity == "user"
    with client(sink) as c:
        c.starttls(context=ctx)
        c.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            c.login("user", "wrong")
        assert e.value.smtp_code == 535
    assert sink.wait_sessions(2, closed=True)[1].auth_identity is None


def test_auth_without_tls_when_allowed(make_sink):
    sink = make_sink(auth={"user": "secret"}, auth_needs_tls=False)
    with client(sink) as c:
        c.ehlo()
        assert c.has_extn("auth")
        c.login("user", "secret")
    assert sink.wait_sessions(1, closed=True)[0].auth_identity == "user"


def test_per_rcpt_replies(sink):
    sink.set_reply("RCPT", "550 5.1.1 no such user", key="Bad@Example.org")
    sink.set_reply("RCPT", "452 4.2.2 mailbox full", key=2)
    rcpts = ["a@example.org", "bad@example.org", "c@example.org", "d@example.org"]
    with client(sink) as c:
        refused = c.sendmail("s@client.test", rcpts, b"hello\r\n")
    assert refused == {"bad@example.org": (550, b"5.1.1 no such user"),
                       "c@example.org": (452, b"4.2.2 mailbox full")}
    msg = sink.wait_messages(1)[0]
    assert msg.rcpt_addrs == ["a@example.org", "d@example.org"]


def test_reply_sequences_and_callables(sink):
    sink.set_reply("MAIL", ["451 4.7.1 greylisted", "250 2.1.0 welcome back"])
    sink.set_reply("EOD", lambda sess, arg: "250 2.0.0 session %d" % sess.id)
    with client(sink) as c:
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            c.sendmail("s@client.test", ["a@example.org"], b"x\r\n")
        assert e.value.smtp_code == 451
        c.rset()
        c.sendmail("s@client.test", ["a@example.org"], b"x\r\n")
    msg = sink.wait_messages(1)[0]
    assert msg.eod_reply == "250 2.0.0 session 1"
    assert sink.transaction_count == 1  # the refused MAIL opened none


def test_multiline_reply_and_data_refusal(sink):
    sink.set_reply("DATA", "554-5.7.1 no\n554 5.7.1 thanks")
    with client(sink) as c:
        with pytest.raises(smtplib.SMTPDataError) as e:
            c.sendmail("s@client.test", ["a@example.org"], b"x\r\n")
        assert e.value.smtp_code == 554
        assert e.value.smtp_error == b"5.7.1 no\n5.7.1 thanks"
    sink.set_reply("DATA", None)
    sink.set_reply("EOD", "552 5.3.4 too big")
    with client(sink) as c:
        with pytest.raises(smtplib.SMTPDataError):
            c.sendmail("s@client.test", ["a@example.org"], b"big\r\n")
    assert sink.messages == []
    s = sink.wait_sessions(2, closed=True)[1]
    assert len(s.messages) == 1 and s.messages[0].data == b"big\r\n"
    assert s.messages[0].eod_reply == "552 5.3.4 too big"


def test_pipelined_input(sink):
    s, f = raw(sink)
    assert read_reply(f).startswith("220 ")
    s.sendall(b"EHLO raw.test\r\n")
    assert "250 SMTPUTF8" in read_reply(f)
    sink.set_reply("RCPT", "550 5.1.1 nobody", key=1)
    s.sendall(b"MAIL FROM:<s@raw.test> SIZE=20\r\nRCPT TO:<a@example.org>\r\n"
              b"RCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org> NOTIFY=NEVER\r\nDATA\r\n")
    replies = [read_reply(f) for _ in range(5)]
    assert [r[:3] for r in replies] == ["250", "250", "550", "250", "354"]
    s.sendall(b"..dot\r\nbare\nlf\r\n.\r\nRSET\r\nMAIL FROM:<>\r\nRCPT TO:<x@y>\r\nDATA\r\n")
    assert read_reply(f).startswith("250 2.0.0 Ok: queued")
    assert [read_reply(f)[:3] for _ in range(4)] == ["250", "250", "250", "354"]
    s.sendall(b".\r\nQUIT\r\n")
    assert read_reply(f).startswith("250 ")
    assert read_reply(f).startswith("221 ")
    s.close()
    m1, m2 = sink.wait_messages(2)
    assert m1.data == b".dot\r\nbare\nlf\r\n"
    assert m1.rcpts == [("a@example.org", ""), ("c@example.org", "NOTIFY=NEVER")]
    assert m1.mail_params == "SIZE=20"
    assert m2.mail_from == "" and m2.data == b""
    sess = sink.sessions[0]
    assert sess.commands == ["EHLO raw.test", "MAIL FROM:<s@raw.test> SIZE=20",
                             "RCPT TO:<a@example.org>", "RCPT TO:<b@example.org>",
                             "RCPT TO:<c@example.org> NOTIFY=NEVER", "DATA", "RSET",
                             "MAIL FROM:<>", "RCPT TO:<x@y>", "DATA", "QUIT"]
    assert sink.transaction_count == 2


def test_421_closes(sink):
    sink.set_reply("RCPT", "421 4.3.2 shutting down", key=1)
    with client(sink) as c:
        c.ehlo()
        c.mail("s@client.test")
        assert c.rcpt("a@example.org")[0] == 250
        assert c.rcpt("b@example.org")[0] == 421
        with pytest.raises(smtplib.SMTPServerDisconnected):
            c.rcpt("c@example.org")
    s = sink.wait_sessions(1, closed=True)[0]
    assert s.commands[-1] == "rcpt TO:<b@example.org>"
    assert sink.messages == []


def test_greeting_refused_and_421(sink):
    sink.set_reply("greeting", "554 5.3.2 not now")
    with pytest.raises(smtplib.SMTPConnectError) as e:
        client(sink)
    assert e.value.smtp_code == 554
    # after a refused greeting only QUIT is taken
    s, f = raw(sink)
    assert read_reply(f).startswith("554 ")
    s.sendall(b"EHLO x\r\nQUIT\r\n")
    assert read_reply(f).startswith("503 ")
    assert read_reply(f).startswith("221 ")
    s.close()
    sink.set_reply("greeting", "421 4.3.2 busy")
    s, f = raw(sink)
    assert read_reply(f).startswith("421 ")
    assert f.readline() == b""  # closed
    s.close()


def test_ehlo_refused_helo_fallback(sink):
    sink.set_reply("EHLO", "502 5.5.2 what")
    with client(sink) as c:
        c.sendmail("s@client.test", ["a@example.org"], b"x\r\n")
    s = sink.wait_sessions(1, closed=True)[0]
    assert s.commands[:2] == ["ehlo client.test", "helo client.test"]
    assert sink.wait_messages(1)[0].rcpt_addrs == ["a@example.org"]


def test_starttls_injection_recorded(make_sink):
    sink = make_sink(starttls=True)
    s, f = raw(sink)
    read_reply(f)
    s.sendall(b"EHLO x\r\n")
    read_reply(f)
    s.sendall(b"STARTTLS\r\nMAIL FROM:<evil@x>\r\n")
    assert read_reply(f).startswith("220 ")
    ctx = ssl.create_default_context(cafile=sink.cert_path)
    t = ctx.wrap_socket(s, server_hostname="sink.test")
    tf = t.makefile("rb")
    t.sendall(b"MAIL FROM:<a@b>\r\n")
    assert read_reply(tf).startswith("503 ")  # the TLS session starts afresh
    t.sendall(b"QUIT\r\n")
    read_reply(tf)
    t.close()
    sess = sink.wait_sessions(1, closed=True)[0]
    assert sess.plaintext_after_starttls == b"MAIL FROM:<evil@x>\r\n"
    assert "MAIL FROM:<evil@x>" not in sess.commands


def test_stall_drop_refuse(sink):
    sink.set_mode("stall")
    s = socket.create_connection(sink.address, timeout=0.5)
    with pytest.raises(socket.timeout):
        s.recv(100)
    s.close()
    sink.set_mode("drop")
    s = socket.create_connection(sink.address, timeout=2)
    assert s.recv(100) == b""
    s.close()
    sink.set_mode("refuse")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(sink.address, timeout=2)
    sink.set_mode("normal")
    with client(sink) as c:
        assert c.noop()[0] == 250
    # stall after a command: no end-of-data reply
    sink.set_reply("EOD", STALL)
    with pytest.raises((socket.timeout, smtplib.SMTPServerDisconnected)):
        with client(sink, timeout=0.5) as c:
            c.sendmail("s@client.test", ["a@example.org"], b"x\r\n")
    assert sink.messages == []
    assert sink.session_count == 4  # stall, drop, normal, stall-at-EOD; refuse made none


def test_sessions_and_transactions_counted(sink):
    for i in range(3):
        with client(sink) as c:
            for j in range(2):
                c.sendmail("s@client.test", ["a%d@example.org" % j], b"m\r\n")
    sink.wait_messages(6)
    assert sink.session_count == 3
    assert sink.transaction_count == 6
    assert [len(s.messages) for s in sink.wait_sessions(3, closed=True)] == [2, 2, 2]


def test_other_loopback_address_and_ipv6():
    with SmtpSink(host="127.0.0.2") as s2:
        with smtplib.SMTP("127.0.0.2", s2.port, timeout=5) as c:
            assert c.noop()[0] == 250
    try:
        with SmtpSink(host="::1") as s6:
            with smtplib.SMTP("::1", s6.port, timeout=5) as c:
                assert c.noop()[0] == 250
    except OSError as e:  # no IPv6 on this host
        pytest.skip("no ::1: %s" % e)


def test_stop_is_clean():
    s = SmtpSink(mode="stall").start()
    conn = socket.create_connection(s.address, timeout=2)
    s.wait_sessions(1)
    t0 = time.monotonic()
    s.stop()
    assert time.monotonic() - t0 < 5
    assert all(not t.is_alive() for t in s._threads)
    assert conn.recv(10) == b""  # the stalled session was closed too
    conn.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(s.address, timeout=2)


def test_auth_challenges_raw(make_sink):
    """The prompted forms smtplib does not use: LOGIN without an initial
    response, PLAIN with an empty 334, a cancelled exchange."""
    import base64
    sink = make_sink(auth={"u": "p"}, auth_needs_tls=False)
    s, f = raw(sink)
    read_reply(f)
    s.sendall(b"EHLO x\r\n")
    assert "250 AUTH PLAIN LOGIN" in read_reply(f)
    s.sendall(b"AUTH PLAIN\r\n")
    assert read_reply(f) == "334 \r\n"
    s.sendall(b"*\r\n")
    assert read_reply(f).startswith("501 ")
    s.sendall(b"AUTH PLAIN " + base64.b64encode(b"\0u\0wrong") + b"\r\n")
    assert read_reply(f).startswith("535 5.7.8")
    s.sendall(b"AUTH CRAM-MD5\r\n")
    assert read_reply(f).startswith("504 ")
    s.sendall(b"AUTH LOGIN\r\n")
    assert read_reply(f) == "334 VXNlcm5hbWU6\r\n"
    s.sendall(base64.b64encode(b"u") + b"\r\n")
    assert read_reply(f) == "334 UGFzc3dvcmQ6\r\n"
    s.sendall(base64.b64encode(b"p") + b"\r\n")
    assert read_reply(f).startswith("235 ")
    s.sendall(b"QUIT\r\n")
    read_reply(f)
    s.close()
    sess = sink.wait_sessions(1, closed=True)[0]
    assert sess.auth_identity == "u"
    assert sess.commands[-4:] == ["AUTH LOGIN", "dQ==", "cA==", "QUIT"]
