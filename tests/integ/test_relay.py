"""Outbound relay: the real ravend relays to scriptable SMTP sinks on
127.0.0.x, finding them through a fake DNS server (MX routing, RFC 5321
§5.1), and reports one outcome per recipient; bounces to senders elsewhere
go out the same way."""
import os
import signal
import subprocess
import time

import pytest

import raven as rv
from smtpsink import SmtpSink, STALL

DOMAIN = "remote.example"


def relay_conf(fakedns, port, extra=()):
    """Configuration lines: the fake resolver, and MX relay for any domain
    that is not local (to the sinks' port)."""
    return ['resolver "127.0.0.1" port %d' % fakedns.port,
            'action "out" relay port %d' % port,
            'match from local for any action "out"'] + list(extra)


@pytest.fixture
def sinks():
    """Sinks on 127.0.0.2, .3, .4 sharing one port (MX relay uses one port)."""
    made = []
    port = rv.free_port()

    def make(ip="127.0.0.2", **kw):
        s = SmtpSink(host=ip, port=port, **kw)
        s.start()
        made.append(s)
        return s

    make.port = port
    yield make
    for s in made:
        s.stop()


def submit(raven, rcpts, token, frm="sender@example.org", mail_options=()):
    with rv.session(raven.port) as s:
        assert s.cmd("MAIL FROM:<%s>%s" % (frm, "".join(" " + o for o in mail_options))).code == 250
        for r in rcpts:
            reply = s.cmd("RCPT TO:<%s>" % r)
            assert reply.code == 250, reply
        assert s.cmd("DATA").code == 354
        s.send(("Subject: %s\r\nMessage-ID: <%s@test>\r\n\r\n..leading dot\r\nbody %s\r\n"
                % (token, token, token)).encode() + b".\r\n")
        r = s.reply()
        assert r.code == 250, r
        return r.lines[0].split()[-1]


def login_file(tmp_path, login, password):
    """A smarthost login table file (credentials are never inline)."""
    path = tmp_path / "login"
    path.write_text("%s: %s\n" % (login, password))
    os.chmod(tmp_path, 0o755)
    return str(path)


def mx(fakedns, domain, *hosts):
    """MX records: (pref, name, ip) each, with A records for the names."""
    for pref, name, ip in hosts:
        fakedns.add(domain, "MX", (pref, name))
        if ip:
            fakedns.add(name, "A", ip)


def test_delivery_via_mx(factory, fakedns, sinks):
    sink = sinks("127.0.0.2")
    mx(fakedns, DOMAIN, (10, "mx1." + DOMAIN, "127.0.0.2"))
    raven = factory(extra=relay_conf(fakedns, sinks.port))
    token = rv.unique("mx")
    qid = submit(raven, ["bob@" + DOMAIN], token)
    sink.wait_messages(1)
    m = sink.messages[0]
    assert m.mail_from == "sender@example.org" and m.rcpt_addrs == ["bob@" + DOMAIN]
    assert b"..leading dot" not in m.data and b"\r\n.leading dot\r\n" in m.data
    assert token.encode() in m.data
    line = rv.wait_log(raven, "relay", id=qid)[0]
    assert line["status"] == "sent" and line["relay"].startswith("mx1.%s[127.0.0.2]" % DOMAIN)
    assert line["dsn"].startswith("2."), line
    raven.wait_queue_empty()


def test_lowest_preference_first_then_next(factory, fakedns, sinks):
    """The best MX is tried first; when it refuses connections the next
    one gets the mail; an MX with a 4xx greeting is skipped too."""
    second = sinks("127.0.0.3")
    third = sinks("127.0.0.4")
    third.set_reply("greeting", "421 4.3.2 busy")
    mx(fakedns, DOMAIN, (30, "c." + DOMAIN, "127.0.0.3"), (10, "a." + DOMAIN, "127.0.0.2"),
       (20, "b." + DOMAIN, "127.0.0.4"))
    raven = factory(extra=relay_conf(fakedns, sinks.port))
    token = rv.unique("pref")
    qid = submit(raven, ["bob@" + DOMAIN], token)
    second.wait_messages(1)
    assert third.transaction_count == 0 and third.session_count >= 1
    line = rv.wait_log(raven, "relay", id=qid)[0]
    assert line["relay"].startswith("c.%s[127.0.0.3]" % DOMAIN), line


def test_no_mx_falls_back_to_address(factory, fakedns, sinks):
    sink = sinks("127.0.0.2")
    fakedns.add(DOMAIN, "A", "127.0.0.2")
    raven = factory(extra=relay_conf(fakedns, sinks.port))
    submit(raven, ["bob@" + DOMAIN], rv.unique("implicit"))
    sink.wait_messages(1)


def dsn_for(raven, user, qid, timeout=15):
    """The DSN about qid that landed in user's mailbox."""
    got = rv.wait_until(lambda: [m for m in raven.messages(user) if qid.encode() in m],
                        timeout, what="a DSN about %s for %s" % (qid, user))
    return got[0]


def test_null_mx_bounces_at_once(factory, fakedns, sinks):
    fakedns.add(DOMAIN, "MX", (0, "."))
    raven = factory(extra=relay_conf(fakedns, sinks.port))
    qid = submit(raven, ["bob@" + DOMAIN], rv.unique("nullmx"), frm="alice@example.org")
    dsn = dsn_for(raven, "alice", qid)
    assert b"Status: 5.1.10" in dsn and b"Action: failed" in dsn


def test_nxdomain_bounces(factory, fakedns, sinks):
    fakedns.nxdomain(DOMAIN)
    raven = factory(extra=relay_conf(fakedns, sinks.port))
    qid = submit(raven, ["bob@" + DOMAIN], rv.unique("nx"), frm="alice@example.org")
    dsn = dsn_for(raven, "alice", qid)
    assert b"Status: 5.1.2" in dsn


def test_servfail_defers_then_delivers(factory, fakedns, sinks):
    sink = sinks("127.0.0.2")
    fakedns.servfail(DOMAIN)
    raven = factory(extra=relay_conf(fakedns, sinks.port, [rv.queue_config(retry_min="1s",
                                                                          retry_max="1s")]))
    qid = submit(raven, ["bob@" + DOMAIN], rv.unique("servfail"))
    line = rv.wait_log(raven, "deferred", id=qid)[0]
    assert "4.4.3" in line["text"], line
    fakedns.clear()
    mx(fakedns, DOMAIN, (10, "mx." + DOMAIN, "127.0.0.2"))
    sink.wait_messages(1, timeout=20)
    rv.wait_log(raven, "delivered", id=qid, timeout=10)


def test_mx_pointing_at_ourselves_is_a_loop(factory, fakedns, sinks):
    raven = factory(start=False)
    fakedns.add(DOMAIN, "MX", (10, rv.HOSTNAME))
    raven.write_config(extra=relay_conf(fakedns, sinks.port))
    raven.start()
    qid = submit(raven, ["bob@" + DOMAIN], rv.unique("loop"), frm="alice@example.org")
    dsn = dsn_for(raven, "alice", qid)
    assert b"Status: 5.4.6" in dsn and b"loops back to myself" in dsn


def test_mx_address_is_our_listener_is_a_loop(factory, fakedns):
    raven = factory(start=False)
    # the MX resolves to the address and port Raven itself listens on
    fakedns.add(DOMAIN, "MX", (10, "me." + DOMAIN))
    fakedns.add("me." + DOMAIN, "A", "127.0.0.1")
    raven.write_config(extra=relay_conf(fakedns, raven.port))
    raven.start()
    qid = submit(raven, ["bob@" + DOMAIN], rv.unique("loop2"), frm="alice@example.org")
    dsn = dsn_for(raven, "alice", qid)
    assert b"Status: 5.4.6" in dsn


def test_per_recipient_outcomes(factory, fakedns, sinks):
    """One RCPT 550 and one 250 in one transaction: one DSN naming the
    refused one (with the remote host and its reply), one delivery."""
    sink = sinks("127.0.0.2")
    sink.set_reply("RCPT", "550 5.1.1 <nobody@%s>: no such user" % DOMAIN,
                   key="nobody@" + DOMAIN)
    mx(fakedns, DOMAIN, (10, "mx." + DOMAIN, "127.0.0.2"))
    raven = factory(extra=relay_conf(fakedns, sinks.port))
    qid = submit(raven, ["nobody@" + DOMAIN, "bob@" + DOMAIN], rv.unique("mixed"),
                 frm="alice@example.org")
    sink.wait_messages(1)
    assert sink.messages[0].rcpt_addrs == ["bob@" + DOMAIN]
    dsn = dsn_for(raven, "alice", qid)
    assert b"Final-Recipient: rfc822; nobody@" + DOMAIN.encode() in dsn
    assert b"bob@" + DOMAIN.encode() not in dsn.split(b"Final-Recipient")[1]
    assert b"Remote-MTA: dns; mx." + DOMAIN.encode() in dsn
    assert b"Diagnostic-Code: smtp; 550 5.1.1" in dsn
    assert b"Status: 5.1.1" in dsn


def test_451_then_success_on_retry(factory, fakedns, sinks):
    sink = sinks("127.0.0.2")
    sink.set_reply("RCPT", ["451 4.7.1 greylisted, come back later", "250 2.1.5 ok"])
    mx(fakedns, DOMAIN, (10, "mx." + DOMAIN, "127.0.0.2"))
    raven = factory(extra=relay_conf(fakedns, sinks.port,
                                     [rv.queue_config(retry_min="1s", retry_max="1s")]))
    qid = submit(raven, ["bob@" + DOMAIN], rv.unique("grey"))
    line = rv.wait_log(raven, "deferred", id=qid)[0]
    assert "greylisted" in line["text"] and "host mx." + DOMAIN in line["text"], line
    sink.wait_messages(1, timeout=20)
    rv.wait_log(raven, "delivered", id=qid)


def test_data_refused_fails_every_recipient(factory, fakedns, sinks):
    sink = sinks("127.0.0.2")
    sink.set_reply("EOD", "554 5.7.1 message refused")
    mx(fakedns, DOMAIN, (10, "mx." + DOMAIN, "127.0.0.2"))
    raven = factory(extra=relay_conf(fakedns, sinks.port))
    qid = submit(raven, ["a@" + DOMAIN, "b@" + DOMAIN], rv.unique("eod"), frm="alice@example.org")
    dsn = dsn_for(raven, "alice", qid)
    assert dsn.count(b"Action: failed") == 2
    assert b"554 5.7.1 message refused" in dsn


def test_starttls_to_self_signed_sink(factory, fakedns, sinks):
    sink = sinks("127.0.0.2", starttls=True)
    mx(fakedns, DOMAIN, (10, "mx." + DOMAIN, "127.0.0.2"))
    raven = factory(extra=relay_conf(fakedns, sinks.port))
    qid = submit(raven, ["bob@" + DOMAIN], rv.unique("tls"))
    sink.wait_messages(1)
    assert sink.messages[0].tls
    line = rv.wait_log(raven, "relay", id=qid)[0]
    assert line["tls"].startswith("TLSv1.") and line["tls"].endswith("/unverified"), line


def test_required_tls_without_starttls_defers(factory, fakedns, sinks):
    """relay host ... tls: a host that offers no STARTTLS gets nothing in clear."""
    sink = sinks("127.0.0.2")
    raven = factory(extra=['action "smart" relay host "127.0.0.2" port %d tls' % sinks.port,
                           'match from local for any action "smart"'])
    qid = submit(raven, ["bob@" + DOMAIN], rv.unique("notls"))
    line = rv.wait_log(raven, "deferred", id=qid)[0]
    assert "4.7" in line["text"], line
    time.sleep(0.5)
    assert sink.transaction_count == 0
    for sess in sink.sessions:
        assert not any(c.upper().startswith("MAIL") for c in sess.commands), sess.commands


def test_required_tls_unverifiable_certificate_defers(factory, fakedns, sinks):
    sink = sinks("127.0.0.2", starttls=True)
    raven = factory(extra=['action "smart" relay host "127.0.0.2" port %d tls' % sinks.port,
                           'match from local for any action "smart"'])
    qid = submit(raven, ["bob@" + DOMAIN], rv.unique("badcert"))
    line = rv.wait_log(raven, "deferred", id=qid)[0]
    assert "certificate verification failed" in line["text"], line
    assert sink.transaction_count == 0


def test_smarthost_with_auth(factory, fakedns, sinks, tmp_path):
    sink = sinks("127.0.0.2", starttls=True, auth={"relayuser": "s3cret"})
    raven = factory(extra=['table isp file "%s"' % login_file(tmp_path, "relayuser", "s3cret"),
                           'action "smart" relay host "127.0.0.2" port %d auth <isp>' % sinks.port,
                           'match from local for any action "smart"'])
    submit(raven, ["bob@" + DOMAIN], rv.unique("auth"))
    sink.wait_messages(1)
    assert sink.messages[0].auth == "relayuser" and sink.messages[0].tls


@pytest.mark.skipif(os.geteuid() != 0, reason="reading another process's memory needs root")
def test_only_the_relay_role_holds_smarthost_passwords(factory, fakedns, sinks, tmp_path):
    """The smarthost password is in raven-relay's memory (it sends it)
    and in no other process's: not the network-facing smtp role, not the
    queue, not the parent."""
    import tlsauth as ta
    secret = "Sm4rth0st-" + rv.unique("pw")
    sink = sinks("127.0.0.2", starttls=True, auth={"relayuser": secret})
    raven = factory(extra=['table isp file "%s"' % login_file(tmp_path, "relayuser", secret),
                           'action "smart" relay host "127.0.0.2" port %d auth <isp>' % sinks.port,
                           'match from local for any action "smart"'])
    submit(raven, ["bob@" + DOMAIN], rv.unique("auth"))
    sink.wait_messages(1)
    needle = [secret.encode()]
    roles = raven.roles()
    assert ta.process_memory_contains(roles["raven-relay"][0], needle)[needle[0]]
    for name in ("raven-smtp", "raven-queue", "raven-local"):
        for pid in roles[name]:
            assert not ta.process_memory_contains(pid, needle)[needle[0]], name
    assert not ta.process_memory_contains(raven.pid, needle)[needle[0]], "parent"


def test_many_messages_few_connections(factory, fakedns, sinks):
    sink = sinks("127.0.0.2")
    mx(fakedns, DOMAIN, (10, "mx." + DOMAIN, "127.0.0.2"))
    raven = factory(extra=relay_conf(fakedns, sinks.port))
    n = 30
    for i in range(n):
        submit(raven, ["u%d@%s" % (i, DOMAIN)], rv.unique("many%d" % i))
    sink.wait_messages(n, timeout=30)
    assert sink.session_count <= 6, sink.session_count


def test_bounce_to_remote_sender_reaches_sink(factory, fakedns, sinks):
    """A failure notice to a sender elsewhere is relayed to its MX."""
    sender_mx = sinks("127.0.0.3")
    fakedns.add("sender.example", "MX", (10, "mx.sender.example"))
    fakedns.add("mx.sender.example", "A", "127.0.0.3")
    raven = factory(start=False, extra=relay_conf(fakedns, sinks.port))
    rv.mailbox_is_file(raven, "bob")
    raven.start()
    qid = submit(raven, ["bob@example.org"], rv.unique("rbounce"), frm="someone@sender.example")
    sender_mx.wait_messages(1, timeout=20)
    m = sender_mx.messages[0]
    assert m.mail_from == "" and m.rcpt_addrs == ["someone@sender.example"]
    assert b"multipart/report" in m.data and qid.encode() in m.data


def test_relay_killed_mid_data_delivers_after_restart(factory, fakedns, sinks):
    """kill -9 of the relay while a message's DATA is in flight: the message
    is retried by the restarted role and delivered; nothing is lost."""
    stall = sinks("127.0.0.2")
    stall.set_reply("EOD", [STALL, "250 2.0.0 ok"])
    mx(fakedns, DOMAIN, (10, "mx." + DOMAIN, "127.0.0.2"))
    raven = factory(extra=relay_conf(fakedns, sinks.port,
                                     [rv.queue_config(retry_min="1s", retry_max="1s")]))
    qid = submit(raven, ["bob@" + DOMAIN], rv.unique("kill"))
    rv.wait_until(lambda: stall.session_count >= 1 and any(
        "DATA" in c for s in stall.sessions for c in s.commands), 10, what="DATA at the sink")
    time.sleep(0.3)
    old = raven.role_pid("raven-relay")
    os.kill(old, signal.SIGKILL)
    raven.role_pid("raven-relay", exclude=(old,))
    stall.wait_messages(1, timeout=30)
    rv.wait_log(raven, "delivered", id=qid, timeout=20)


def test_relay_role_confined(factory, fakedns, sinks):
    raven = factory(extra=relay_conf(fakedns, sinks.port))
    pid = raven.role_pid("raven-relay")
    with open("/proc/%d/status" % pid) as f:
        st = dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)
    assert st["Seccomp"] == "2" and st["NoNewPrivs"] == "1"
    assert int(st["CapEff"], 16) == 0
    if os.geteuid() == 0:
        import pwd
        assert int(st["Uid"].split()[0]) == pwd.getpwnam(rv.run_net_user()).pw_uid
        assert os.readlink("/proc/%d/root" % pid) == os.path.join(raven.data, "empty")


def test_interop_with_postfix_both_ways(factory, fakedns, postfix_peer):
    """Raven relays to a private Postfix that stores into a Maildir, and
    that Postfix relays to Raven: both messages arrive intact."""
    raven = factory(start=False)
    pf = postfix_peer(mailbox_domains=("peer.test",),
                      transports={"example.org": "smtp:[127.0.0.1]:%d" % raven.port})
    fakedns.add("peer.test", "MX", (10, "mx.peer.test"))
    fakedns.add("mx.peer.test", "A", "127.0.0.1")
    raven.write_config(extra=relay_conf(fakedns, pf.port))
    raven.start()
    # Raven -> Postfix
    token = rv.unique("to-postfix")
    submit(raven, ["user@peer.test"], token)
    got = pf.wait_mail("user@peer.test", token.encode())
    assert b"\n.leading dot\n" in got[0] or b"\r\n.leading dot\r\n" in got[0]
    assert b"Received: from client.test" in got[0]  # Raven's trace survives intact
    # Postfix -> Raven
    token2 = rv.unique("from-postfix")
    msg = ("From: x@peer.test\r\nTo: alice@example.org\r\nSubject: %s\r\n\r\n"
           "..dot line\r\nbody %s\r\n" % (token2, token2))
    pf.submit("x@peer.test", ["alice@example.org"], msg)
    delivered = raven.wait_for("alice", token2, timeout=30)
    assert b"\n.dot line\n" in delivered[0] or b"\n..dot line\n" in delivered[0]
    assert not pf.deferred_or_bounced(), pf.deferred_or_bounced()


def _ca_and_cert(directory, hostname):
    """A private CA and a certificate for hostname it signed (PEM files)."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Raven test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {}
    for name, data in (("ca.pem", ca.public_bytes(serialization.Encoding.PEM)),
                       ("cert.pem", cert.public_bytes(serialization.Encoding.PEM)),
                       ("key.pem", key.private_bytes(serialization.Encoding.PEM,
                                                     serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))):
        paths[name] = os.path.join(directory, name)
        with open(paths[name], "wb") as f:
            f.write(data)
    os.chmod(directory, 0o755)
    for p in paths.values():
        os.chmod(p, 0o644)
    return paths


def test_required_tls_verified_certificate_delivers(factory, fakedns, sinks, tmp_path):
    """relay host ... tls: a certificate for the host name from a CA in the
    CA store (here a private one, named by SSL_CERT_FILE as OpenSSL allows)
    verifies, and the mail goes."""
    import ssl
    paths = _ca_and_cert(str(tmp_path), "smarthost.test")
    sink = sinks("127.0.0.2", starttls=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(paths["cert.pem"], paths["key.pem"])
    sink._ctx = ctx
    fakedns.add("smarthost.test", "A", "127.0.0.2")
    raven = factory(start=False,
                    extra=['resolver "127.0.0.1" port %d' % fakedns.port,
                           'action "smart" relay host "smarthost.test" port %d tls' % sinks.port,
                           'match from local for any action "smart"'])
    raven.popen_kw = dict(env=dict(os.environ, SSL_CERT_FILE=paths["ca.pem"]))
    raven.start()
    qid = submit(raven, ["bob@" + DOMAIN], rv.unique("verified"))
    sink.wait_messages(1)
    line = rv.wait_log(raven, "relay", id=qid)[0]
    assert line["tls"].endswith("/verified"), line


def test_ravenctl_shows_remote_reply(factory, fakedns, sinks):
    import test_ravenctl as ctl
    sink = sinks("127.0.0.2")
    sink.set_reply("RCPT", "451 4.3.0 try again later")
    mx(fakedns, DOMAIN, (10, "mx." + DOMAIN, "127.0.0.2"))
    raven = factory(extra=relay_conf(fakedns, sinks.port))
    qid = submit(raven, ["bob@" + DOMAIN], rv.unique("ctl"))
    rv.wait_log(raven, "deferred", id=qid)
    [m] = [m for m in ctl.ctl_json(raven, "queue")["messages"] if m["id"] == qid]
    err = m["recipients"][0]["last_error"]
    assert "host mx.%s[127.0.0.2] said: 451 4.3.0 try again later" % DOMAIN in err, err


def test_client_timeouts_are_configurable(factory, fakedns, sinks):
    """relay timeout: a host that never greets is given up on after the
    configured greeting timeout and the next MX gets the mail; one that
    never answers the final dot defers the message after `dot` seconds,
    and the retry delivers it."""
    mute = sinks("127.0.0.2")
    mute.set_reply("greeting", STALL)
    slow = sinks("127.0.0.3")
    slow.set_reply("EOD", [STALL, "250 2.0.0 ok"])
    mx(fakedns, DOMAIN, (10, "a." + DOMAIN, "127.0.0.2"), (20, "b." + DOMAIN, "127.0.0.3"))
    raven = factory(extra=relay_conf(fakedns, sinks.port, [
        "relay timeout greeting 1s dot 2s command 5m idle 1s",
        rv.queue_config(retry_min="1s", retry_max="1s", lifetime="5m")]))
    qid = submit(raven, ["bob@" + DOMAIN], rv.unique("tmo"))
    line = rv.wait_log(raven, "deferred", id=qid)[0]
    assert "timeout after 2 s waiting for the reply to end of data" in line["text"], line
    t_deferred = time.monotonic()
    slow.wait_messages(1, timeout=20)  # the retry (the stalled transaction never ended)
    rv.wait_log(raven, "delivered", id=qid)
    assert mute.session_count >= 1 and not mute.messages
    assert time.monotonic() - t_deferred < 15



def test_damaged_data_file_is_never_relayed(factory, fakedns, sinks):
    """A byte changed in a queued message's data file: the relay role reads
    it against the checksum recorded at commit, never ends the DATA (the
    sink gets no message, whole or half), and the message goes to corrupt/;
    an intact message queued beside it is relayed."""
    mx(fakedns, DOMAIN, (10, "mx." + DOMAIN, "127.0.0.2"))  # nobody listens there yet
    raven = factory(extra=relay_conf(fakedns, sinks.port, [rv.queue_config(
        retry_min="60s", retry_max="60s", lifetime="300s")]))
    bad, good = rv.unique("flipped"), rv.unique("intact")
    bad_id = submit(raven, ["bob@" + DOMAIN], bad)
    good_id = submit(raven, ["carol@" + DOMAIN], good)
    rv.wait_log(raven, "deferred", id=bad_id)
    rv.wait_log(raven, "deferred", id=good_id)
    path = os.path.join(raven.queue, "data", bad_id)
    size = os.path.getsize(path)
    with open(path, "r+b") as f:  # one octet of the body, the size unchanged
        f.seek(size - 3)
        octet = f.read(1)
        f.seek(size - 3)
        f.write(bytes([octet[0] ^ 0x20]))
    sink = sinks("127.0.0.2")
    r = subprocess.run([rv.RAVENCTL, "-c", raven.conf, "flush"], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    got = sink.wait_messages(1, timeout=20)
    rv.wait_until(lambda: any(c.startswith(bad_id) for c in raven.queue_files("corrupt")), 15,
                  what="%s in queue/corrupt" % bad_id)
    line = rv.wait_log(raven, "relay-data-corrupt", id=bad_id)[0]
    assert "damaged" in line["reason"] and " warn" in line["_line"], line
    rv.wait_log(raven, "data-corrupt", id=bad_id)
    time.sleep(0.5)
    assert [good in m.data.decode() for m in sink.messages] == [True], sink.messages
    assert all(bad not in m.data.decode() for ss in sink.sessions for m in ss.messages)
    assert raven.proc.poll() is None
