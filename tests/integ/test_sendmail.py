"""raven-sendmail, the sendmail(8) interface: a local user who cannot touch the
spool submits through the maildrop (raven-postdrop, setgid raven-drop), and the
pickup role queues the message -- at once, or when the daemon starts again.

Run as root (CI), submissions run as an unprivileged user (nobody, through
setpriv) with a copy of the two programs in which raven-postdrop is setgid
raven-drop, as make install makes it; run as anyone else, the daemon, the
maildrop and the submitter are all that user.
"""

import grp
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import raven as rv

CTL_DIR = os.path.join(os.path.dirname(os.path.dirname(rv.RAVEND)), "ctl")
SENDMAIL = os.path.join(CTL_DIR, "raven-sendmail")
POSTDROP = os.path.join(CTL_DIR, "raven-postdrop")
# The disk may be slow (every commit is a syncfs of a file system other
# programs write to): generous deliveries.
WAIT = 60.0

EX_USAGE, EX_DATAERR, EX_NOPERM, EX_CONFIG = 64, 65, 77, 78


class Submitter:
    """Runs raven-sendmail as the unprivileged submitter."""

    def __init__(self, setgid):
        self.dir = tempfile.mkdtemp(prefix="raven-sendmail-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.sendmail = os.path.join(self.dir, "raven-sendmail")
        shutil.copy(SENDMAIL, self.sendmail)
        shutil.copy(POSTDROP, os.path.join(self.dir, "raven-postdrop"))
        self.root = os.geteuid() == 0
        if self.root:
            pw = pwd.getpwnam("nobody")
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
            if setgid:
                pd = os.path.join(self.dir, "raven-postdrop")
                os.chown(pd, 0, grp.getgrnam("raven-drop").gr_gid)
                os.chmod(pd, 0o2755)
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
        self.name = pwd.getpwuid(self.uid).pw_name

    def run(self, args, data=b"", cwd=None, timeout=30):
        argv = [self.sendmail] + list(args)
        if self.root:
            argv = ["setpriv", "--reuid=%d" % self.uid, "--regid=%d" % self.gid,
                    "--clear-groups", "--"] + argv
        return subprocess.run(argv, input=data, capture_output=True, timeout=timeout,
                              cwd=cwd or self.dir)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def submitter():
    if os.geteuid() == 0:
        try:
            grp.getgrnam("raven-drop")
        except KeyError:
            pytest.skip("group raven-drop is missing (scripts/deps.sh makes it)")
    s = Submitter(setgid=True)
    yield s
    s.cleanup()


def maildrop(r):
    return sorted(n for n in os.listdir(os.path.join(r.data, "maildrop")) if n != "corrupt")


def header_of(raw):
    """The header section of a delivered file (Maildir files have LF line ends)."""
    return raw.split(b"\n\n", 1)[0]


def test_t_as_unprivileged_user(factory, submitter):
    """-t as a user without access to the spool: delivered into the Maildir,
    Bcc gone (its address a recipient), Date/Message-ID/From added, the
    Received field naming the real uid."""
    r = factory()
    tok = rv.unique("t")
    msg = ("To: Alice <alice@localhost>\nCc: bob\nBcc: carol@localhost\n"
           "Subject: %s\n\nhello from %s\n.\nnot the end (no -i: it is)\n" % (tok, tok))
    p = submitter.run(["-C", r.conf, "-t", "-F", "Test User"], msg.encode())
    assert p.returncode == 0, p.stderr
    if submitter.root:
        st = os.stat(os.path.join(r.data, "maildrop"))
        assert st.st_mode & 0o7777 == 0o1770
        assert st.st_gid == grp.getgrnam("raven-drop").gr_gid
    for user in ("alice", "bob", "carol"):
        got = r.wait_for(user, tok, timeout=WAIT)
        assert len(got) == 1
    raw = r.find("alice", tok)[0]
    head = header_of(raw)
    assert b"\nBcc:" not in head and b"carol" not in head
    assert re.search(rb"\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\n", head)
    assert re.search(rb"\nMessage-ID: <[^>]+@" + rv.HOSTNAME.encode() + rb">\n", head)
    assert ("\nFrom: Test User <%s@localhost>" % submitter.name).encode() in head
    assert ("Return-Path: <%s@localhost>" % submitter.name).encode() in raw
    assert ("(Raven, from userid %d)" % submitter.uid).encode() in head
    body = raw.split(b"\n\n", 1)[1]
    assert body == ("hello from %s\n" % tok).encode()
    assert maildrop(r) == []
    ev = rv.wait_log(r, "picked-up", uid=str(submitter.uid))
    assert ev[0]["rcpts"] == "3"


def test_arguments_i_and_f(factory, submitter):
    """Recipients as arguments (a bare name, a list), -i keeps a lone dot, -f
    sets the envelope sender, an existing From/Date/Message-ID is kept."""
    r = factory()
    tok = rv.unique("f")
    msg = ("From: Someone <someone@example.org>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
           "Message-ID: <%s@test>\nSubject: x\n\nline\n.\nafter the dot\n" % tok)
    p = submitter.run(["-C", r.conf, "-i", "-f", "bob@example.org", "-oem", "-odi", "-v",
                       "alice", "Dave <dave@localhost>, erin@example.org"], msg.encode())
    assert p.returncode == 0, p.stderr
    for user in ("alice", "dave", "erin"):
        raw = r.wait_for(user, tok, timeout=WAIT)[0]
        assert raw.startswith(b"Return-Path: <bob@example.org>\n")
        assert b"\n.\nafter the dot\n" in raw
        head = header_of(raw)
        assert head.count(b"\nFrom:") == 1 and b"From: Someone <someone@example.org>" in head
        assert head.count(b"\nDate:") == 1 and head.count(b"\nMessage-ID:") == 1


def test_unknown_recipient_bounced(factory, submitter):
    """A recipient that does not route cannot be refused in a dialogue: the
    others get the message, the sender a DSN naming it."""
    r = factory()
    tok = rv.unique("u")
    p = submitter.run(["-C", r.conf, "-f", "bob@localhost", "alice", "nosuchuser"],
                      ("Subject: %s\n\nhi\n" % tok).encode())
    assert p.returncode == 0, p.stderr
    r.wait_for("alice", tok, timeout=WAIT)
    dsn = r.wait_for("bob", "nosuchuser@localhost", timeout=WAIT)[0]
    assert b"Status: 5.1.1" in dsn and b"Return-Path: <>" in dsn
    assert tok.encode() in dsn  # the original header is attached


def test_daemon_stopped(factory, submitter):
    """Handed over while ravend is stopped: kept in the maildrop, delivered
    once the daemon starts."""
    r = factory()
    r.stop()
    tok = rv.unique("s")
    p = submitter.run(["-C", r.conf, "alice"], ("Subject: %s\n\nwhile stopped\n" % tok).encode())
    assert p.returncode == 0, p.stderr
    assert len(maildrop(r)) == 1
    time.sleep(0.5)
    assert r.find("alice", tok) == []
    r.start()
    r.wait_for("alice", tok, timeout=WAIT)
    rv.wait_until(lambda: maildrop(r) == [], WAIT, what="an empty maildrop")


def test_exit_codes(factory, submitter):
    r = factory(start=False)
    os.makedirs(os.path.join(r.data, "maildrop"), exist_ok=True)
    cases = [
        (["-C", r.conf, "bad@@example.org"], EX_DATAERR),
        (["-C", r.conf, "-f", "a b c@x", "alice"], EX_DATAERR),
        (["-C", r.conf, "<alice@localhost"], EX_DATAERR),
        (["-C", r.conf], EX_USAGE),
        (["-C", r.conf, "-bs"], EX_USAGE),
        (["-C", r.conf, "-q"], EX_USAGE),
        (["-C", r.conf, "-Z", "alice"], EX_USAGE),
        (["-C", os.path.join(r.root, "missing.conf"), "alice"], EX_CONFIG),
    ]
    for args, want in cases:
        p = submitter.run(args, b"Subject: x\n\nx\n")
        assert p.returncode == want, (args, p.returncode, p.stderr)
        assert p.stderr.startswith(b"raven-sendmail: ") or b"usage:" in p.stderr, p.stderr
    # -t finds no recipient; a malformed address in the header
    p = submitter.run(["-C", r.conf, "-t"], b"Subject: none\n\nx\n")
    assert p.returncode == EX_DATAERR and b"no recipient" in p.stderr
    p = submitter.run(["-C", r.conf, "-t"], b"To: a@b@c\n\nx\n")
    assert p.returncode == EX_DATAERR and b"To:" in p.stderr
    # a configuration the user cannot read, or that does not parse
    secret = os.path.join(submitter.dir, "secret.conf")
    shutil.copy(r.conf, secret)
    os.chmod(secret, 0o000)  # root's (nobody submits) or the user's own
    p = submitter.run(["-C", secret, "alice"], b"x\n")
    assert p.returncode == EX_CONFIG, p.stderr
    bad = os.path.join(submitter.dir, "bad.conf")
    with open(bad, "w") as f:
        f.write("no such statement\n")
    os.chmod(bad, 0o644)
    p = submitter.run(["-C", bad, "alice"], b"x\n")
    assert p.returncode == EX_CONFIG and b"bad.conf:1" in p.stderr
    assert maildrop(r) == []


def test_postdrop_not_setgid(factory):
    """Without the setgid helper another user cannot write into the maildrop."""
    if os.geteuid() != 0:
        pytest.skip("needs a second user")
    r = factory()
    s = Submitter(setgid=False)
    try:
        p = s.run(["-C", r.conf, "alice"], b"Subject: x\n\nx\n")
        assert p.returncode == EX_NOPERM, p.stderr
        assert b"setgid raven-drop" in p.stderr
    finally:
        s.cleanup()
    assert maildrop(r) == []


def test_bp_lists_queue(factory, submitter):
    """-bp (and the name mailq) lists the queue like ravenctl queue."""
    r = factory()
    rv.maildir_locked(r, "grace")  # delivery fails for now: the message waits
    p = submitter.run(["-C", r.conf, "grace"], b"Subject: q\n\nq\n")
    assert p.returncode == 0, p.stderr
    rv.wait_log(r, "deferred", timeout=WAIT)
    p = subprocess.run([SENDMAIL, "-C", r.conf, "-bp"], capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert b"grace@localhost" in p.stdout and b"-- 1 message" in p.stdout
    mailq = os.path.join(submitter.dir, "mailq")
    os.symlink("raven-sendmail", mailq)
    q = subprocess.run([mailq, "-C", r.conf], capture_output=True, timeout=30)
    assert q.returncode == 0 and q.stdout == p.stdout
    if submitter.root:  # the control socket is root's and the daemon's
        p = submitter.run(["-C", r.conf, "-bp"])
        assert p.returncode == EX_NOPERM, p.stderr
    r.stop()
    p = subprocess.run([SENDMAIL, "-C", r.conf, "-bp"], capture_output=True, timeout=30)
    assert p.returncode == 69 and b"is ravend running?" in p.stderr  # EX_UNAVAILABLE


def test_corrupt_file_quarantined(factory):
    """A file in the maildrop that is not a maildrop file is moved aside and
    logged; the next one is still taken."""
    r = factory()
    drop = os.path.join(r.data, "maildrop")
    with open(os.path.join(drop, "0000000001.garbage"), "wb") as f:
        f.write(b"RAVENDRP\x01\x00\x00\x00\x09garbage")
    rv.wait_log(r, "maildrop-corrupt", timeout=WAIT)
    assert os.listdir(os.path.join(drop, "corrupt")) == ["0000000001.garbage"]
    assert maildrop(r) == []


def test_kill9_pickup(factory, submitter):
    """kill -9 of the pickup role while it takes messages in: nothing is
    lost, and a kill duplicates at most the one message in flight."""
    r = factory()
    r.stop()
    n = 8
    toks = [rv.unique("k%d" % i) for i in range(n)]
    for t in toks:
        p = submitter.run(["-C", r.conf, "-i", "alice"],
                          ("Message-ID: <%s@test>\nSubject: %s\n\n%s\n" % (t, t, t)).encode())
        assert p.returncode == 0, p.stderr
    assert len(maildrop(r)) == n
    r.start()
    kills = 0
    deadline = time.monotonic() + WAIT
    while kills < 3 and maildrop(r) and time.monotonic() < deadline:
        pid = r.role_pid("raven-pickup", timeout=WAIT)
        time.sleep(0.05 * kills)
        try:
            os.kill(pid, signal.SIGKILL)
            kills += 1
        except ProcessLookupError:
            pass
        rv.wait_until(lambda: pid not in r.roles().get("raven-pickup", []), 10,
                      what="the killed pickup gone")
    rv.wait_until(lambda: maildrop(r) == [], 3 * WAIT, what="an empty maildrop")
    r.wait_queue_empty(timeout=3 * WAIT)
    counts = [rv.count_message_id(r, t) for t in toks]
    assert all(c >= 1 for c in counts), counts
    assert sum(counts) - n <= kills, counts


def test_relayed_as_a_local_client(factory, submitter):
    """Mail to another domain is relayed, as a local client's ("match from
    local"), with the -f sender and our Received field."""
    from smtpsink import SmtpSink
    sink = SmtpSink(host="127.0.0.2", port=rv.free_port())
    sink.start()
    try:
        r = factory(extra=['action "out" relay host "127.0.0.2" port %d' % sink.port,
                           'match from local for any action "out"'])
        tok = rv.unique("r")
        p = submitter.run(["-C", r.conf, "-f", "alice@localhost", "bob@remote.example"],
                          ("Subject: %s\n\n.leading dot\n" % tok).encode())
        assert p.returncode == 0, p.stderr
        sink.wait_messages(1, timeout=WAIT)
        m = sink.messages[0]
        assert m.mail_from == "alice@localhost" and m.rcpt_addrs == ["bob@remote.example"]
        assert ("(Raven, from userid %d)" % submitter.uid).encode() in m.data
        assert m.data.endswith(b"\r\n.leading dot\r\n")
    finally:
        sink.stop()
