"""LMTP delivery (RFC 2033): the real ravend delivers an lmtp action's
recipients through the relay role to a scriptable sink in LMTP mode, over TCP
(STARTTLS when offered) and over a unix-domain socket (connected by the
parent for the chrooted relay); each recipient has its own outcome after the
data: delivered, retried later, or bounced with the server's reply."""
import os
import shutil
import subprocess

import pytest

import raven as rv
from smtpsink import SmtpSink

DOMAIN = "lmtp.example"


def lmtp_conf(target, opts=""):
    """An lmtp action for DOMAIN's users (the test users table), short retries."""
    return ['action "store" lmtp "%s" users <users> %s' % (target, opts),
            'match from any for domain "%s" action "store"' % DOMAIN,
            rv.queue_config(retry_min="1s", retry_max="1s", lifetime="30s")]


@pytest.fixture
def lmtp_sink():
    made = []

    def make(**kw):
        s = SmtpSink(lmtp=True, **kw)
        s.start()
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


def submit(raven, rcpts, token, frm="dave@example.org"):
    msg = rv.make_message(token, to=rcpts[0], frm=frm)
    return rv.sendmail(raven.port, frm, rcpts, msg)


def test_mixed_outcomes_after_data(factory, lmtp_sink):
    """One transaction, three recipients: 250 delivered, 452 retried (and
    delivered at the retry, on the same connection), 550 bounced with the
    LMTP server's reply in the DSN."""
    sink = lmtp_sink(starttls=True)
    sink.set_reply("EOD", ["452 4.2.2 <bob@%s> Mailbox is full" % DOMAIN,
                           "250 2.0.0 <bob@%s> Saved" % DOMAIN], key="bob@" + DOMAIN)
    sink.set_reply("EOD", "550 5.2.1 <carol@%s> Mailbox disabled" % DOMAIN,
                   key="carol@" + DOMAIN)
    raven = factory(extra=lmtp_conf("127.0.0.1:%d" % sink.port))
    token = rv.unique("lmtp")
    rcpts = ["alice@" + DOMAIN, "Bob+news@" + DOMAIN, "carol@" + DOMAIN]
    qid = submit(raven, rcpts, token)

    msgs = sink.wait_messages(2, timeout=30)
    first, second = msgs[0], msgs[1]
    # one LMTP transaction for the three, a reply each after the data
    assert [a for a, _ in first.eod_replies] == ["alice@" + DOMAIN, "bob@" + DOMAIN,
                                                 "carol@" + DOMAIN]
    assert first.rcpt_addrs == ["alice@" + DOMAIN]
    assert first.mail_from == "dave@example.org"
    assert token.encode() in first.data
    assert first.tls, "STARTTLS was offered on TCP: it must be used"
    # no DSN parameters over LMTP: the notices are Raven's
    assert all(p == "" for _, p in first.rcpts), first.rcpts
    assert "RET=" not in first.mail_params and "ENVID=" not in first.mail_params
    # the retry carries bob alone, on the connection kept open (reuse) when
    # it came within the 5 s a connection waits for more (a loaded machine
    # may take longer to record the first outcomes)
    assert second.rcpt_addrs == ["bob@" + DOMAIN]
    sent = sorted(ln["_time"] for ln in rv.wait_log(raven, "lmtp", id=qid, status="sent",
                                                     count=2))
    if sent[-1] - sent[0] < 4:
        assert sink.session_count == 1, sink.sessions
    commands = sink.sessions[0].commands
    assert commands[0].startswith("LHLO ") and not any(
        c.startswith(("EHLO", "HELO")) for c in commands), commands

    lines = {ln["to"].lower() + ":" + ln["status"]: ln
             for ln in rv.log_events(raven, "lmtp", id=qid)}
    assert "alice@%s:sent" % DOMAIN in lines, lines
    assert "bob+news@%s:deferred" % DOMAIN in lines
    assert "bob+news@%s:sent" % DOMAIN in lines
    assert "carol@%s:bounced" % DOMAIN in lines
    assert lines["alice@%s:sent" % DOMAIN]["relay"] == "127.0.0.1[127.0.0.1]:%d" % sink.port
    assert lines["alice@%s:sent" % DOMAIN]["tls"].startswith("TLS")

    dsn = rv.wait_dsn(raven, "dave", qid, "failed", timeout=30)[0]
    _, _, per_rcpt, _ = dsn
    assert len(per_rcpt) == 1
    r = per_rcpt[0]
    assert rv.dsn_field(r, "Final-Recipient") == "rfc822; carol@" + DOMAIN
    assert rv.dsn_field(r, "Status") == "5.2.1"
    assert rv.dsn_field(r, "Remote-MTA") == "dns; 127.0.0.1"
    assert rv.dsn_field(r, "Diagnostic-Code") == \
        "smtp; 550 5.2.1 <carol@%s> Mailbox disabled (in reply to end of data)" % DOMAIN
    raven.wait_queue_empty(timeout=30)


def test_unix_socket_rcpt_to_original(factory, lmtp_sink):
    """A unix-domain target: the relay role (chrooted when root) gets the
    connection from the parent; rcpt-to original sends the address as
    received, +detail included; no STARTTLS on a local socket."""
    raven = factory(start=False)
    path = os.path.join(raven.root, "lmtp.sock")
    sink = lmtp_sink(unix_path=path, starttls=True)
    raven.write_config(extra=lmtp_conf(path, "rcpt-to original"))
    raven.start()
    token = rv.unique("lmtpunix")
    qid = submit(raven, ["Alice+Tag@" + DOMAIN, "bob@" + DOMAIN], token)
    m = sink.wait_messages(1)[0]
    assert m.rcpt_addrs == ["Alice+Tag@" + DOMAIN, "bob@" + DOMAIN]
    assert not m.tls
    line = rv.wait_log(raven, "lmtp", id=qid, status="sent", count=2)[0]
    assert line["relay"] == "%s[%s]" % (rv.HOSTNAME, path)
    raven.wait_queue_empty()


def test_unix_socket_missing_then_back(factory, lmtp_sink):
    """No server on the socket yet: the mail waits (the destination is down
    for its backoff), then goes once the server is there; rcpt-to user."""
    raven = factory(start=False)
    path = os.path.join(raven.root, "later.sock")
    raven.write_config(extra=lmtp_conf(path, "rcpt-to user"))
    raven.start()
    token = rv.unique("lmtplater")
    qid = submit(raven, ["erin@" + DOMAIN], token)
    line = rv.wait_log(raven, "deferred", id=qid)[0]
    assert "4.4.1 connect to %s[%s]: No such file or directory" % (rv.HOSTNAME, path) \
        in line["text"], line
    rv.wait_log(raven, "destination-down", transport="lmtp")
    sink = lmtp_sink(unix_path=path)
    m = sink.wait_messages(1, timeout=15)[0]
    assert m.rcpt_addrs == ["erin"]
    raven.wait_queue_empty(timeout=30)


def test_config_check():
    """ravend -n checks the targets and options of lmtp actions."""
    root = rv.make_root()
    good = rv.make_config(root, 2525, extra=[
        'action "d" lmtp "/run/dovecot/lmtp" users <users> alias <aliases>',
        'action "t" lmtp "[::1]:24" rcpt-to user',
        'match from any for domain "x.example" action "d"'])
    bad = rv.make_config(root, 2525, extra=['action "d" lmtp "host:99999"'])
    rv.write_tables(root)
    for text, rc, out in ((good, 0, "is valid"),
                          (bad, 1, 'lmtp "host:99999": bad port (1 to 65535)')):
        conf = os.path.join(root, "raven.conf")
        with open(conf, "w") as f:
            f.write(text)
        p = subprocess.run([rv.RAVEND, "-n", "-c", conf], capture_output=True, text=True,
                           timeout=20)
        assert p.returncode == rc, p
        assert out in p.stdout + p.stderr, p
    shutil.rmtree(root)
