"""Never an open relay. A client outside `local networks` (127.0.0.2 while
only 127.0.0.1/32 is local) that has not authenticated reaches the local
domains only. Every classic trick to make a server relay is tried: each is
refused (550 5.7.1, 501, or 550 5.1.1 for a local part that is nobody's
mailbox) or accepted as the one local mailbox it really names. A catch-all
`match from local for any` rule stands in for a relay: mail wrongly taken
for "local" or "for a local domain" would land there, and the control
cases prove that it does for a local or authenticated client."""

import base64
import os

import pytest

import raven as rv
import tlsauth as ta

OUTSIDE = "127.0.0.2"

# (recipient as sent in RCPT TO, expected outcome): an outcome is the local
# mailbox it must land in, or the (code, enhanced code) of the refusal
# (None as enhanced code: any, when the parser's reason may vary).
TRICKS = [
    ("<user@remote.test>", (550, "5.7.1")),
    ("<user@REMOTE.TEST>", (550, "5.7.1")),
    ("<user%remote.test@example.org>", (550, "5.1.1")),
    ("<alice%remote.test@example.org>", (550, "5.1.1")),
    ('<"user%remote.test"@example.org>', (550, "5.1.1")),
    ("<user%remote.test@localhost>", (550, "5.1.1")),
    ("<@example.org:user@remote.test>", (550, "5.7.1")),
    ("<@example.org,@localhost:user@remote.test>", (550, "5.7.1")),
    ("<@remote.test:alice@example.org>", "alice"),
    ('<"user@remote.test"@example.org>', (550, "5.1.1")),
    ('<"user@remote.test">', (501, "5.1.3")),
    ("<user@remote.test@example.org>", (501, "5.1.3")),
    ("<user@example.org@remote.test>", (501, "5.1.3")),
    ("<remote.test!user@example.org>", (550, "5.1.1")),
    ("<remote.test!user>", (501, "5.1.3")),
    ("<user@remote.test.>", (501, None)),
    ("<alice@example.org.>", (501, None)),
    ("<alice@sub.example.org>", (550, "5.7.1")),
    ("<alice@example.org.remote.test>", (550, "5.7.1")),
    ("<ALICE@EXAMPLE.ORG>", "alice"),
    ('<"alice"@example.org>', "alice"),
    ("<alice+tag@example.org>", "alice"),
    ("<alice@localhost>", "alice"),
    ("<alice@[127.0.0.1]>", (550, "5.7.1")),
    ("<alice@[IPv6:::1]>", (550, "5.7.1")),
    ("<postmaster>", "bob"),  # postmaster is aliased to bob (raven.py)
    ("<POSTMASTER@%s>" % rv.HOSTNAME, "bob"),
    ("<postmaster@remote.test>", (550, "5.7.1")),
    ("<alice@>", (501, "5.1.3")),
    ("<@remote.test>", (501, "5.1.3")),
    ("<>", (501, "5.1.3")),
    ("<user@remote.test%example.org>", (501, "5.1.3")),
]


@pytest.fixture
def relay_raven(factory, tmp_path):
    if not ta.bind_source(OUTSIDE):
        pytest.skip("cannot use %s as a source address" % OUTSIDE)
    os.chmod(tmp_path, 0o755)
    path, _ = ta.write_passwd(str(tmp_path))
    root = rv.make_root()
    # in mail/ (the daemon user's) so the catch-all works when used
    catchall = os.path.join(root, "var", "mail")
    r = factory(root=root, per_ip=50, errors=50, auth_users=path,
                local_networks=["127.0.0.1/32"],
                actions=['action "catchall" maildir "%s/relayed-%%{user}"' % catchall],
                extra=['match from local for any action "catchall"',
                       'match from auth for any action "catchall"'])
    r.catchall = catchall
    return r


def catchall_files(r):
    out = []
    for dirpath, _, files in os.walk(r.catchall):
        if "/relayed-" in dirpath and (dirpath.endswith("/new") or dirpath.endswith("/cur")):
            out += [os.path.join(dirpath, f) for f in files]
    return out


def try_rcpt(port, rcpt, source, token, auth=None):
    """One session: MAIL, RCPT rcpt, and DATA if accepted. Returns the RCPT reply."""
    with ta.TLSRaw(port, source=source) as c:
        assert c.greeting().code == 220
        c.ehlo()
        if auth:
            assert c.cmd("STARTTLS").code == 220
            c.starttls()
            c.ehlo()
            blob = base64.b64encode(b"\0" + auth[0].encode() + b"\0" + auth[1].encode())
            assert c.cmd("AUTH PLAIN " + blob.decode()).code == 235
        sender = "%s@example.org" % auth[0] if auth else "sender@remote.test"
        assert c.cmd("MAIL FROM:<%s>" % sender).code == 250
        r = c.cmd("RCPT TO:" + rcpt)
        if r.code == 250:
            assert c.cmd("DATA").code == 354
            c.send(rv.dot_stuff_crlf(rv.make_message(token)) + b".\r\n")
            assert c.reply().code == 250
        c.cmd("QUIT")
        return r


def test_every_trick_from_outside(relay_raven):
    r = relay_raven
    wrong = []
    for i, (rcpt, want) in enumerate(TRICKS):
        token = rv.unique("trick%d" % i)
        got = try_rcpt(r.port, rcpt, OUTSIDE, token)
        if isinstance(want, str):
            if got.code != 250:
                wrong.append((rcpt, "refused %r, expected delivery to %s" % (got, want)))
                continue
            r.wait_for(want, token)
        elif got.code != want[0] or (want[1] and got.enh != want[1]):
            wrong.append((rcpt, "got %r, expected %s" % (got, want)))
    assert not wrong, "\n".join("%s: %s" % w for w in wrong)
    assert catchall_files(r) == [], "a trick was relayed: %s" % catchall_files(r)
    assert rv.log_events(r, "rcpt-refused")


def test_controls_local_and_authenticated_clients_do_reach_the_catchall(relay_raven):
    """The tests above could pass if the catch-all never worked: from the
    local network, and once authenticated from outside, remote recipients
    are taken — the very thing refused to an unauthenticated outsider."""
    r = relay_raven
    t1, t2 = rv.unique("local"), rv.unique("authd")
    assert try_rcpt(r.port, "<user@remote.test>", "127.0.0.1", t1).code == 250
    assert try_rcpt(r.port, "<user@remote.test>", OUTSIDE, t2,
                    auth=("alice", ta.PASSWORDS["alice"])).code == 250
    rv.wait_until(lambda: len(catchall_files(r)) == 2, rv.DELIVERY_TIMEOUT,
                  what="two messages in the catch-all")
    # and the outsider, unauthenticated, still is not
    got = try_rcpt(r.port, "<user@remote.test>", OUTSIDE, rv.unique("out"))
    assert (got.code, got.enh) == (550, "5.7.1"), got
