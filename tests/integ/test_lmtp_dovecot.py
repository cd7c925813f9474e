"""LMTP against a real Dovecot (dovecot_peer.py: private configuration,
base_dir, passwd-file users, Maildirs under a temp directory): Raven delivers
over Dovecot's unix-domain socket and over 127.0.0.1:port, and the messages
are read back over IMAP from the same Dovecot with imaplib. Run twice: as
root (ravend drops to its accounts, the parent connects the socket for the
chrooted relay; Dovecot as packaged) and as an unprivileged account (ravend
and Dovecot both as that one user). Skipped only when Dovecot is missing."""
import os
import pwd
import shutil

import pytest

import dovecot_peer as dp
import raven as rv

pytestmark = pytest.mark.skipif(not dp.available(),
                                reason="dovecot is not installed (scripts/deps.sh test)")

PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw"}  # carol is Raven's user, not Dovecot's


def _ids(name):
    pw = pwd.getpwnam(name)
    return pw.pw_uid, pw.pw_gid


def _chown_tree(path, uid, gid):
    for d, dirs, files in os.walk(path):
        os.chown(d, uid, gid)
        for n in files:
            os.chown(os.path.join(d, n), uid, gid)


@pytest.fixture(params=["root", "user"])
def setup(request, factory):
    """(raven, dovecot): a private Dovecot, and a ravend whose lmtp actions
    deliver to it: lmtp.example over the socket (rcpt-to user@domain, the
    default), tcp.example over 127.0.0.1 (rcpt-to user)."""
    as_root = request.param == "root"
    if as_root and os.geteuid() != 0:
        pytest.skip("the root run needs root")
    drop = None
    if not as_root and os.geteuid() == 0:
        drop = _ids(rv.run_user())  # both daemons as one unprivileged account
    droot = rv.make_root("raven-dovecot-")
    dove = dp.Dovecot(droot, PASSWORDS, run_as=drop)
    raven = factory(start=False)
    try:
        dove.start()
        raven.write_config(extra=[
            'action "dovecot" lmtp "%s" users <users>' % dove.lmtp_socket,
            'action "dovecot-tcp" lmtp "127.0.0.1:%d" rcpt-to user' % dove.lmtp_port,
            'match from any for domain "lmtp.example" action "dovecot"',
            'match from any for domain "tcp.example" action "dovecot-tcp"',
            rv.queue_config(retry_min="1s", retry_max="2s", lifetime="30s"),
        ])
        if drop is not None:
            _chown_tree(raven.root, *drop)

            def become():
                os.setgroups([])
                os.setgid(drop[1])
                os.setuid(drop[0])
            raven.popen_kw = dict(preexec_fn=become)
        raven.start()
        yield raven, dove, request.param
    finally:
        print(dove.log_tail())  # shown by pytest when the test fails
        dove.stop()
        raven.stop()
        shutil.rmtree(droot, ignore_errors=True)


def test_dovecot_lmtp_and_imap(setup):
    raven, dove, mode = setup
    t1, t2, t3 = rv.unique("dove-unix"), rv.unique("dove-tcp"), rv.unique("dove-one")
    # one LMTP transaction for three recipients over the socket
    q1 = rv.sendmail(raven.port, "dave@example.org",
                     ["alice@lmtp.example", "bob@lmtp.example", "carol@lmtp.example"],
                     rv.make_message(t1, to="alice@lmtp.example", frm="dave@example.org"))
    q2 = rv.sendmail(raven.port, "dave@example.org", ["alice@tcp.example"],
                     rv.make_message(t2, to="alice@tcp.example", frm="dave@example.org"))
    rv.sendmail(raven.port, "dave@example.org", ["Bob+lists@lmtp.example"],
                rv.make_message(t3, to="Bob+lists@lmtp.example", frm="dave@example.org"))

    alice = dove.wait_fetch("alice", PASSWORDS["alice"], 2, timeout=30)
    bob = dove.wait_fetch("bob", PASSWORDS["bob"], 2, timeout=30)

    def find(msgs, token):
        got = [raw for raw in msgs if token.encode() in raw]
        assert len(got) == 1, (token, msgs)
        return rv.parse_mail(got[0])
    m1, m2 = find(alice, t1), find(alice, t2)
    assert m1["Return-Path"] == "<dave@example.org>"
    assert "with LMTP" in " ".join(m1.get_all("Received"))
    assert m1["Subject"] and find(bob, t1)["Message-ID"] == m1["Message-ID"]
    # Dovecot names a lone recipient in Delivered-To: the RCPT each action
    # sent (rcpt-to user@domain: the mailbox, +tag gone, @ its domain; user)
    assert m2["Delivered-To"] == "alice"
    assert find(bob, t3)["Delivered-To"] == "bob@lmtp.example"

    # carol is no Dovecot user: its 550 at RCPT bounces her alone
    dsn = rv.wait_dsn(raven, "dave", q1, "failed", timeout=30)[0]
    per = dsn[2]
    assert [rv.dsn_field(r, "Final-Recipient") for r in per] == ["rfc822; carol@lmtp.example"]
    assert rv.dsn_field(per[0], "Status") == "5.1.1"
    assert rv.dsn_field(per[0], "Remote-MTA") == "dns; " + rv.HOSTNAME
    diag = rv.dsn_field(per[0], "Diagnostic-Code")
    assert diag.startswith("smtp; 550 5.1.1 <carol@lmtp.example>") and \
        "(in reply to RCPT TO)" in diag, diag

    unix = rv.wait_log(raven, "lmtp", id=q1, status="sent", count=2)
    assert all(ln["relay"] == "%s[%s]" % (rv.HOSTNAME, dove.lmtp_socket) for ln in unix), unix
    tcp = rv.wait_log(raven, "lmtp", id=q2, status="sent")[0]
    assert tcp["relay"] == "127.0.0.1[127.0.0.1]:%d" % dove.lmtp_port
    assert tcp["tls"] == "none"  # this Dovecot has ssl = no: no STARTTLS offered
    raven.wait_queue_empty(timeout=30)
    if mode == "root":
        # the relay is chrooted and never opened the socket itself
        assert "raven-relay" in raven.roles()
