"""Server TLS, end to end against the real (confined) daemon: STARTTLS with
smtplib and openssl s_client, implicit TLS (RFC 8314), certificates chosen
by SNI, the protocol floor, the STARTTLS command-injection attack
(CVE-2011-0411), stalled handshakes against the per-IP limit, what
Received: and the log say about TLS, and the smtp role still alive under
its system-call filter after all of it."""

import os
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

import raven as rv
import tlsauth as ta


def msg_for(token, to="alice@example.org"):
    return rv.make_message(token, to=to)


@pytest.fixture
def certs(tmp_path):
    os.chmod(tmp_path, 0o755)
    one = ta.make_cert(str(tmp_path), "mx", rv.HOSTNAME, [rv.HOSTNAME, "*.wild.test"])
    two = ta.make_cert(str(tmp_path), "other", "mx.other.test", ["mx.other.test"])
    return one, two


def test_starttls_self_signed_smtplib(factory):
    """No certificate configured: a self-signed one is made at start,
    STARTTLS is offered, and mail sent over it says so in Received:."""
    r = factory()
    token = rv.unique("tls")
    with smtplib.SMTP("127.0.0.1", r.port, local_hostname="client.test", timeout=20) as s:
        s.ehlo()
        assert s.has_extn("starttls")
        s.starttls(context=ta.client_context())
        s.ehlo()
        assert not s.has_extn("starttls"), "STARTTLS offered again over TLS"
        version = s.sock.version()
        cert = s.sock.getpeercert(binary_form=True)
        assert cert
        s.sendmail("sender@remote.test", ["alice@example.org"], msg_for(token))
    got = r.wait_for("alice", token)[0]
    received, _ = rv.split_received(got)
    assert b" with ESMTPS id " in received, received
    assert ("(using %s with cipher " % version).encode() in received, received
    ev = rv.wait_log(r, "tls")[0]
    assert ev["version"] == version and ev["cipher"].startswith("TLS_"), ev
    assert rv.log_events(r, "tls-ready", self_signed="1")


def test_openssl_s_client_verifies_configured_certificate(factory, certs):
    """openssl s_client -starttls smtp, verifying the configured chain and
    the host name against it."""
    (cert, key), _ = certs
    r = factory(tls_certs=[(cert, key)])
    p = subprocess.run(
        ["openssl", "s_client", "-starttls", "smtp", "-connect", "127.0.0.1:%d" % r.port,
         "-servername", rv.HOSTNAME, "-verify_hostname", rv.HOSTNAME, "-CAfile", cert,
         "-verify_return_error", "-crlf", "-ign_eof"],
        input="EHLO client.test\nQUIT\n", capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr + p.stdout
    assert "Verify return code: 0 (ok)" in p.stdout, p.stdout
    assert "250 ENHANCEDSTATUSCODES" in p.stdout and "221 2.0.0" in p.stdout, p.stdout
    assert "STARTTLS" not in p.stdout.split("250-", 1)[1], "offered again after TLS"
    assert rv.log_events(r, "tls-ready", certificates="1", self_signed="0")


def test_sni_picks_the_certificate(factory, certs):
    (c1, k1), (c2, k2) = certs
    r = factory(tls_certs=[(c1, k1), (c2, k2)])
    cases = [(None, rv.HOSTNAME), (rv.HOSTNAME, rv.HOSTNAME), ("mx.other.test", "mx.other.test"),
             ("a.wild.test", rv.HOSTNAME), ("unknown.test", rv.HOSTNAME)]
    for sni, want in cases:
        with ta.TLSRaw(r.port) as c:
            assert c.greeting().code == 220
            c.ehlo()
            assert c.cmd("STARTTLS").code == 220
            sock = c.starttls(ta.client_context(), server_hostname=sni)
            der = sock.getpeercert(binary_form=True)
            from cryptography import x509
            from cryptography.x509.oid import NameOID
            cn = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(
                NameOID.COMMON_NAME)[0].value
            assert cn == want, (sni, cn)
            assert c.cmd("NOOP").code == 250


def test_protocol_floor_is_tls12(factory):
    r = factory()
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        with ta.TLSRaw(r.port) as c:
            c.greeting()
            c.ehlo()
            assert c.cmd("STARTTLS").code == 220
            sock = c.starttls(ta.client_context(minimum=version, maximum=version))
            assert sock.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                                      ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
            if version == ssl.TLSVersion.TLSv1_2:
                assert sock.cipher()[0].startswith("ECDHE-"), sock.cipher()
            assert c.cmd("EHLO client.test").code == 250
    # TLS 1.1 (and a client that offers nothing newer) is refused
    old = ta.client_context(minimum=ssl.TLSVersion.TLSv1, maximum=ssl.TLSVersion.TLSv1_1)
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    with ta.TLSRaw(r.port) as c:
        c.greeting()
        c.ehlo()
        assert c.cmd("STARTTLS").code == 220
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            c.starttls(old)
    rv.wait_log(r, "tls-failed")


@pytest.mark.parametrize("injected", [b"RSET\r\n", b"MAIL FROM:<a@b.test>\r\n"],
                         ids=["rset", "mail"])
def test_starttls_injection_is_discarded(factory, injected):
    """CVE-2011-0411: commands sent in plaintext behind STARTTLS, in the same
    packet, are never executed; the first reply over TLS answers the first
    command sent over TLS."""
    r = factory()
    with ta.TLSRaw(r.port) as c:
        c.greeting()
        c.ehlo()
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.send(b"STARTTLS\r\n" + injected)  # one write, one segment
        assert c.reply().code == 220
        time.sleep(0.3)  # the injected line has surely arrived
        assert c.buf == b"", c.buf
        c.starttls()
        c.send("NOOP\r\nRCPT TO:<alice@example.org>\r\nQUIT\r\n")
        lines = c.read_all()
        # NOOP, then RCPT refused for want of EHLO (nothing survived the
        # handshake, the injected MAIL least of all), then QUIT
        assert [l[:3] for l in lines] == ["250", "503", "221"], lines
        assert "Send HELO/EHLO first" in lines[1], lines
    assert not rv.log_events(r, "queued")


def test_implicit_tls_listener(factory, certs):
    """A "listen ... tls" listener (port 465 style): TLS from the first
    octet, greeting after the handshake, no STARTTLS offered."""
    (cert, key), _ = certs
    tls_port = rv.free_port()
    r = factory(tls_certs=[(cert, key)], listeners=[(tls_port, ("tls",))])
    token = rv.unique("implicit")
    with smtplib.SMTP_SSL("127.0.0.1", tls_port, local_hostname="client.test", timeout=20,
                          context=ta.client_context(cert, check_hostname=False)) as s:
        # verified against the configured certificate (smtplib names the
        # server by its address here, so the name is checked below)
        assert s.sock.getpeercert()["subject"][0][0][1] == rv.HOSTNAME
        code, _ = s.ehlo()
        assert code == 250
        assert not s.has_extn("starttls")
        s.sendmail("sender@remote.test", ["alice@example.org"], msg_for(token))
    got = r.wait_for("alice", token)[0]
    assert b" with ESMTPS id " in rv.split_received(got)[0]
    # a plaintext client on the TLS port gets nothing and is dropped
    with rv.RawSMTP(tls_port) as c:
        c.send(b"EHLO client.test\r\n")
        assert c.is_closed(timeout=5)
        assert c.buf == b""


def test_stalled_handshakes_time_out_and_count_per_ip(factory):
    """A handshake that never finishes is cut at `timeout tls`, and while it
    lasts it holds one of the client's per-IP slots."""
    tls_port = rv.free_port()
    r = factory(per_ip=2, timeout_tls=2, listeners=[(tls_port, ("tls",))])
    stalled = [socket.create_connection(("127.0.0.1", tls_port)) for _ in range(2)]
    try:
        time.sleep(0.3)
        # the third connection from this address is refused (closed at once)
        third = socket.create_connection(("127.0.0.1", tls_port))
        third.settimeout(3)
        assert third.recv(100) == b""
        third.close()
        rv.wait_log(r, "connection-refused")
        # the stalled ones are cut when their handshake deadline passes
        t0 = time.monotonic()
        for s in stalled:
            s.settimeout(10)
            assert s.recv(100) == b""
        assert time.monotonic() - t0 < 6
        evs = rv.wait_log(r, "tls-failed", count=2)
        assert all("timed out" in e["reason"] for e in evs), evs
    finally:
        for s in stalled:
            s.close()
    # a STARTTLS that never handshakes is cut the same way
    with ta.TLSRaw(r.port) as c:
        c.greeting()
        c.ehlo()
        assert c.cmd("STARTTLS").code == 220
        assert c.is_closed(timeout=6)
    # and the slots are free again: a real client gets through
    with smtplib.SMTP_SSL("127.0.0.1", tls_port, timeout=20,
                          context=ta.client_context()) as s:
        assert s.noop()[0] == 250


def test_smtp_role_keeps_its_filter_with_tls(factory):
    """OpenSSL needs nothing at run time that the smtp role's allow-list
    forbids: many TLS sessions (1.2 and 1.3, both ways of starting) later,
    the same smtp process is alive and still under its filter."""
    tls_port = rv.free_port()
    r = factory(listeners=[(tls_port, ("tls",))], per_ip=50)
    smtp = r.role_pid("raven-smtp")
    assert ta.seccomp_mode(smtp) == 2
    for i in range(10):
        v = ssl.TLSVersion.TLSv1_2 if i % 2 else ssl.TLSVersion.TLSv1_3
        ctx = ta.client_context(minimum=v, maximum=v)
        if i % 3 == 0:
            with smtplib.SMTP_SSL("127.0.0.1", tls_port, timeout=20, context=ctx) as s:
                s.sendmail("a@remote.test", ["bob@example.org"], msg_for(rv.unique("f")))
        else:
            with smtplib.SMTP("127.0.0.1", r.port, timeout=20) as s:
                s.starttls(context=ctx)
                s.sendmail("a@remote.test", ["bob@example.org"], msg_for(rv.unique("f")))
    r.wait_for("bob", "Message-ID", count=10)
    assert r.role_pid("raven-smtp") == smtp, "the smtp role was restarted"
    assert ta.seccomp_mode(smtp) == 2
    assert not rv.log_events(r, "role-died"), r.log_tail()
    assert len(rv.log_events(r, "tls")) == 10
