"""ravenctl(8) against a running ravend: the control socket, text and JSON
answers, usage errors and access control (docs/ravenctl.8.md)."""

import json
import os
import pwd
import signal
import smtplib
import subprocess
import time

import pytest

import raven as rv

RAVENCTL = rv.RAVENCTL


def ctl(raven, *args, user=None, timeout=20):
    """Run ravenctl -c <raven's config>; returns the CompletedProcess."""
    kw = {}
    if user is not None:
        uid, gid = user

        def drop():
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        kw["preexec_fn"] = drop
    return subprocess.run([RAVENCTL, "-c", raven.conf] + list(args), capture_output=True,
                          timeout=timeout, cwd=raven.root, **kw)


def ctl_json(raven, *args):
    p = ctl(raven, "--json", *args)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def socket_path(raven):
    return os.path.join(raven.data, "run", "ravenctl.sock")


def wait_socket(raven):
    rv.wait_until(lambda: os.path.exists(socket_path(raven)), rv.START_TIMEOUT,
                  what="the control socket")


def send(raven, token, rcpts=("alice@example.org",)):
    msg = rv.make_message(token, to=rcpts[0]).replace("\n", "\r\n").encode()
    with smtplib.SMTP("127.0.0.1", raven.port, local_hostname="client.test", timeout=20) as s:
        s.ehlo()
        s.mail("sender@remote.test")
        for r in rcpts:
            s.rcpt(r)
        code, resp = s.data(msg)
        assert code == 250, (code, resp)
        return rv.queue_id(b"250 " + resp)


@pytest.fixture(scope="module", autouse=True)
def built():
    if not os.access(RAVENCTL, os.X_OK):
        pytest.fail("ravenctl not built: %s is missing (set RAVENCTL)" % RAVENCTL)


def test_empty_queue(raven):
    wait_socket(raven)
    p = ctl(raven, "queue")
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"-- 0 messages, 0 recipients\n"
    data = ctl_json(raven, "queue")
    assert data["messages"] == []
    assert data["total"] == {"messages": 0, "recipients": 0}
    p = ctl(raven, "queue", "--json")  # --json after the command
    assert json.loads(p.stdout)["total"]["messages"] == 0


def test_socket_mode(raven):
    wait_socket(raven)
    st = os.stat(socket_path(raven))
    assert st.st_mode & 0o777 == 0o660
    if os.geteuid() == 0:
        assert st.st_uid == pwd.getpwnam(rv.run_user()).pw_uid


def test_usage_errors(raven):
    for args in ([], ["frobnicate"], ["show"], ["show", "../etc"], ["queue", "x"],
                 ["hold", "a", "b"], ["--bogus", "queue"]):
        p = ctl(raven, *args)
        assert p.returncode == 2, (args, p)
        assert p.stdout == b""
        assert b"usage:" in p.stderr


def test_reload_not_supported(raven):
    p = ctl(raven, "reload")
    assert p.returncode == 1
    assert b"reload is not supported yet" in p.stderr


def test_unknown_id(raven):
    wait_socket(raven)
    for verb in ("show", "remove", "hold", "release", "flush"):
        p = ctl(raven, verb, "00000000DEADBEEF")
        assert p.returncode == 1, (verb, p)
        assert b"no such message" in p.stderr, (verb, p.stderr)
        assert p.stdout == b""


def test_no_daemon(factory):
    r = factory(start=False)
    p = ctl(r, "queue")
    assert p.returncode == 1
    assert b"is ravend running?" in p.stderr


def test_stats_after_delivery(raven):
    wait_socket(raven)
    token = rv.unique("ctlstats")
    send(raven, token)
    raven.wait_for("alice", token)
    raven.wait_queue_empty()
    data = ctl_json(raven, "stats")
    assert data["messages"] == 0
    assert data["counters"]["committed"] >= 1
    assert data["counters"]["batches"] >= 1
    assert data["counters"]["delivered"] >= 1
    assert set(data["states"]) == {"pending", "deferred", "held", "delivered", "failed"}
    p = ctl(raven, "stats")
    assert p.returncode == 0
    assert b"committed:" in p.stdout and b"mean batch:" in p.stdout
    log = raven.log_text()
    assert "event=ctl-stats" in log


def test_live_message(raven):
    """With the local role stopped, a message stays in the queue in flight:
    queue, show and stats see it; after the role resumes it is delivered."""
    wait_socket(raven)
    local = raven.role_pid("raven-local")
    os.kill(local, signal.SIGSTOP)
    try:
        token = rv.unique("ctllive")
        qid = send(raven, token, rcpts=("alice@example.org", "bob@example.org"))
        data = rv.wait_until(
            lambda: (lambda d: d if d["total"]["messages"] == 1 else None)(
                ctl_json(raven, "queue")),
            rv.DELIVERY_TIMEOUT, what="the message in the queue listing")
        m = data["messages"][0]
        assert m["id"] == qid
        assert m["sender"] == "sender@remote.test"
        assert [r["address"] for r in m["recipients"]] == ["alice@example.org",
                                                             "bob@example.org"]
        p = ctl(raven, "queue")
        assert p.returncode == 0
        assert p.stdout.startswith(qid.encode())
        assert b"<sender@remote.test>" in p.stdout
        assert p.stdout.endswith(b"-- 1 message, 2 recipients\n")
        p = ctl(raven, "show", qid)
        assert p.returncode == 0, p.stderr
        assert b"helo:         client.test\n" in p.stdout
        assert token.encode() in p.stdout  # the Subject carries the token
        shown = ctl_json(raven, "show", qid)
        assert shown["id"] == qid and shown["helo"] == "client.test"
        assert token in shown["headers"]
        assert ctl_json(raven, "stats")["messages"] == 1
        assert ctl(raven, "flush").returncode == 0
        assert "event=ctl-show id=%s" % qid in raven.log_text()
    finally:
        os.kill(local, signal.SIGCONT)
    raven.wait_for("alice", token)
    raven.wait_for("bob", token)
    raven.wait_queue_empty()
    assert ctl_json(raven, "queue")["total"]["messages"] == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run ravenctl as another user")
def test_other_user_denied(raven):
    wait_socket(raven)
    run = pwd.getpwnam(rv.run_user())
    stranger = next(u for u in (1, 2, 3, 65533) if u not in (0, run.pw_uid))
    p = ctl(raven, "queue", user=(stranger, stranger))
    assert p.returncode == 1, p
    assert b"permission denied" in p.stderr
    # the run user itself may
    p = ctl(raven, "queue", user=(run.pw_uid, run.pw_gid))
    assert p.returncode == 0, p.stderr


def rcpt_states(raven, qid):
    """{address: recipient JSON} of message qid in `ravenctl --json queue`."""
    for m in ctl_json(raven, "queue")["messages"]:
        if m["id"] == qid:
            return {r["address"]: r for r in m["recipients"]}
    return None


def test_deferred_flush_hold_release(factory):
    """A deferred (failing) message: queue shows its state and error; flush
    retries it now; hold stops retries, survives a restart; release
    delivers it once the mailbox works."""
    raven = factory(start=False, extra=[rv.queue_config(retry_min="1h", retry_max="2h",
                                                        lifetime="1d")])
    rv.maildir_locked(raven, "carol")
    raven.start()
    wait_socket(raven)
    token = rv.unique("ctldefer")
    qid = send(raven, token, rcpts=("carol@example.org",))
    rv.wait_log(raven, "deferred", id=qid)
    r = rcpt_states(raven, qid)["carol@example.org"]
    assert r["state"] == "deferred" and r["attempts"] == 1, r
    assert "Permission denied" in r["last_error"], r
    assert r["next_try"] > r["last_attempt"] + 3000  # retry-min 1h
    text = ctl(raven, "queue").stdout
    assert b"deferred" in text and b"Permission denied" in text

    # flush: retried now instead of in an hour (and fails again)
    assert ctl(raven, "flush", qid).returncode == 0
    rv.wait_log(raven, "deferred", count=2, id=qid)
    assert rcpt_states(raven, qid)["carol@example.org"]["attempts"] == 2

    # hold: nothing is tried, even on flush, and the hold survives a restart
    assert ctl(raven, "hold", qid).returncode == 0
    assert rcpt_states(raven, qid)["carol@example.org"]["state"] == "held"
    rv.maildir_unlock(raven, "carol")
    assert ctl(raven, "flush").returncode == 0
    raven.stop()
    raven.start()
    wait_socket(raven)
    assert rcpt_states(raven, qid)["carol@example.org"]["state"] == "held"
    assert raven.find("carol", token) == []
    assert len(rv.log_events(raven, "deferred", id=qid)) == 2

    # release: delivered right away, exactly once
    assert ctl(raven, "release", qid).returncode == 0
    raven.wait_for("carol", token)
    raven.wait_queue_empty()
    assert rv.count_message_id(raven, token) == 1
    for verb in ("flush", "hold", "release"):
        assert "event=ctl-%s id=%s" % (verb, qid) in raven.log_text()


def test_remove_deferred_message(factory):
    raven = factory(start=False, extra=[rv.queue_config(retry_min="1h", retry_max="2h",
                                                        lifetime="1d")])
    rv.maildir_locked(raven, "carol")
    raven.start()
    wait_socket(raven)
    token = rv.unique("ctlremove")
    qid = send(raven, token, rcpts=("carol@example.org",))
    rv.wait_log(raven, "deferred", id=qid)
    assert qid in raven.queue_files("env")
    p = ctl(raven, "remove", qid)
    assert p.returncode == 0, p.stderr
    assert rcpt_states(raven, qid) is None
    assert qid not in raven.queue_files("env") and qid not in raven.queue_files("data")
    assert ctl(raven, "remove", qid).returncode == 1  # gone
    rv.maildir_unlock(raven, "carol")
    assert ctl(raven, "flush").returncode == 0
    time.sleep(1)
    assert raven.find("carol", token) == []
    assert "event=ctl-remove id=%s" % qid in raven.log_text()
    # the sender is not told: removal is the administrator's decision
    assert not rv.log_events(raven, "dsn-queued", id=qid)
