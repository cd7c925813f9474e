"""DKIM signing end to end (issue 11): `ravenctl dkim-keygen` makes a key and
the TXT record to publish, `dkim sign` names it, and mail relayed for that
From: domain leaves signed by the signer role (raven-dkim, the only process
that reads the key) — verified by dkimpy (python3-dkim), with the record
ravenctl printed."""

import os
import re
import stat
import subprocess

import dkim
import pytest

import raven as rv
from smtpsink import SmtpSink
from test_ravenctl import RAVENCTL

REMOTE = "remote.example"


@pytest.fixture
def sink(fakedns):
    s = SmtpSink(host="127.0.0.2", port=rv.free_port())
    s.start()
    fakedns.add(REMOTE, "MX", (10, "mx." + REMOTE))
    fakedns.add("mx." + REMOTE, "A", "127.0.0.2")
    yield s
    s.stop()


def keygen(raven, domain, selector, *alg):
    p = subprocess.run([RAVENCTL, "-c", raven.conf, "dkim-keygen", domain, selector] + list(alg),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    rec = re.search(r'^(\S+)\. IN TXT \((.*)\)$', out, re.M)
    assert rec, out
    assert rec.group(1) == "%s._domainkey.%s" % (selector, domain)
    txt = "".join(re.findall(r'"([^"]*)"', rec.group(2)))
    conf = re.search(r'^dkim sign .*$', out, re.M).group(0)
    key = re.search(r'key "([^"]+)"', conf).group(1)
    return txt, conf, key


def signing_raven(factory, fakedns, sink, confs):
    raven = factory(start=False)
    lines = ['resolver "127.0.0.1" port %d' % fakedns.port,
             'action "out" relay port %d' % sink.port,
             'match from local for any action "out"']
    raven.write_config(extra=lines + confs)
    raven.start()
    return raven


def relay(raven, token, frm):
    msg = rv.make_message(token, to="bob@" + REMOTE, frm=frm).replace("\n", "\r\n").encode()
    with rv.session(raven.port) as s:
        assert s.cmd("MAIL FROM:<%s>" % frm).code == 250
        assert s.cmd("RCPT TO:<bob@%s>" % REMOTE).code == 250
        assert s.cmd("DATA").code == 354
        s.send(rv.dot_stuff_crlf(msg) + b".\r\n")
        r = s.reply()
        assert r.code == 250, r


@pytest.mark.parametrize("alg", ["rsa", "ed25519"])
def test_raven_signed_verified_by_dkimpy(factory, fakedns, sink, alg):
    raven = factory(start=False)
    txt, conf, key = keygen(raven, "example.org", "s1", alg)
    assert txt.startswith("v=DKIM1; k=%s; p=" % alg)
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    raven = signing_raven(factory, fakedns, sink, [conf])
    rv.wait_log(raven, "dkim-key-loaded", domain="example.org")
    token = rv.unique("sign")
    relay(raven, token, "someone@example.org")
    sink.wait_messages(1)
    data = sink.messages[0].data
    assert data.startswith(b"DKIM-Signature:"), data[:300]

    def dnsfunc(name, timeout=5):
        assert name == b"s1._domainkey.example.org.", name
        return txt.encode()
    assert dkim.verify(data, dnsfunc=dnsfunc), data[:600]
    # a changed copy does not verify
    assert not dkim.verify(data.replace(token.encode(), b"changed"), dnsfunc=dnsfunc)


def test_other_domains_not_signed_and_keygen_refuses_overwrite(factory, fakedns, sink):
    raven = factory(start=False)
    _, conf, key = keygen(raven, "example.org", "s1")
    p = subprocess.run([RAVENCTL, "-c", raven.conf, "dkim-keygen", "example.org", "s1"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "exists" in p.stderr, p
    p = subprocess.run([RAVENCTL, "-c", raven.conf, "dkim-keygen", "bad domain", "s1"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p
    raven = signing_raven(factory, fakedns, sink, [conf])
    relay(raven, rv.unique("nosign"), "someone@elsewhere.test")
    sink.wait_messages(1)
    assert b"DKIM-Signature:" not in sink.messages[0].data
    # the signer alone is the process that loaded the key
    lines = rv.log_events(raven, "dkim-key-loaded")
    assert lines and all(line.get("role", "dkim") in ("dkim", "raven-dkim") for line in lines)


def test_new_key_taken_by_reload(factory, fakedns, sink):
    """A key rotated by reload: the signer role is replaced, and mail relayed
    after `ravenctl reload` is signed with the new selector, verified by
    dkimpy against the new record; mail before it carried the old one."""
    raven = factory(start=False)
    txt1, conf1, _ = keygen(raven, "example.org", "s1", "ed25519")
    txt2, conf2, _ = keygen(raven, "example.org", "s2", "ed25519")
    raven = signing_raven(factory, fakedns, sink, [conf1])
    relay(raven, rv.unique("before"), "someone@example.org")
    sink.wait_messages(1)
    assert b" s=s1;" in sink.messages[0].data.split(b"\r\n\r\n")[0].replace(b"\r\n", b"")
    lines = ['resolver "127.0.0.1" port %d' % fakedns.port,
             'action "out" relay port %d' % sink.port,
             'match from local for any action "out"', conf2]
    raven.write_config(extra=lines)
    p = subprocess.run([RAVENCTL, "-c", raven.conf, "reload"], capture_output=True, text=True,
                       timeout=30, cwd=raven.root)
    assert p.returncode == 0, p.stderr
    rv.wait_until(lambda: len(rv.log_events(raven, "dkim-key-loaded")) >= 2, 10,
                  what="the new signer's key loaded")
    token = rv.unique("after")
    relay(raven, token, "someone@example.org")
    sink.wait_messages(2)
    data = [m.data for m in sink.messages if token.encode() in m.data][0]
    records = {b"s1._domainkey.example.org.": txt1, b"s2._domainkey.example.org.": txt2}
    assert b" s=s2;" in data.split(b"\r\n\r\n")[0].replace(b"\r\n", b""), data[:400]
    assert dkim.verify(data, dnsfunc=lambda name, timeout=5: records[name].encode())
