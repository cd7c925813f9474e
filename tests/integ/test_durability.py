"""A 250 is a promise: kill -9 of every ravend process right after it, then a
restart on the same spool, must still deliver the message exactly once;
what was never acknowledged must leave nothing behind; damaged spool files
are set aside, not delivered."""

import os
import signal
import threading
import time

import pytest

import raven as rv

MAIL = "MAIL FROM:<sender@remote.test>"


def count_by_message_id(raven, token):
    """How many delivered files, across every mailbox, carry Message-ID <token@test>."""
    needle = ("Message-ID: <%s@test>" % token).encode()
    n = 0
    root = os.path.join(raven.data, "mail")
    for dirpath, _, files in os.walk(root):
        for f in files:
            with open(os.path.join(dirpath, f), "rb") as fh:
                if needle in fh.read():
                    n += 1
    return n


def send_one(port, token, rcpt="alice@example.org"):
    rr, final = rv.send_raw(port, "sender@remote.test", [rcpt],
                            rv.dot_stuff_crlf(rv.make_message(token, to=rcpt)))
    assert [r.code for r in rr] == [250], rr
    assert final.code == 250, final
    return rv.queue_id("250 " + final.text)


def stop_local(raven):
    """SIGSTOP raven-local so that committed mail waits in the spool."""
    pid = raven.role_pid("raven-local")
    os.kill(pid, signal.SIGSTOP)
    return pid


@pytest.mark.parametrize("mode", ["undelivered", "racing"])
def test_kill9_after_250_delivers_exactly_once(factory, mode):
    raven = factory()
    if mode == "undelivered":
        # nothing can be delivered before the kill: recovery must find it all
        stop_local(raven)
    tokens = [rv.unique("k9-%d" % i) for i in range(5)]
    ids = [send_one(raven.port, t, rcpt) for t, rcpt in
           zip(tokens, ["alice@example.org", "bob@example.org", "team@example.org",
                        "carol@example.org", "alice@example.org"])]
    killed = raven.kill9_all()
    assert len(killed) >= 4, "expected parent + 3 roles, killed %s" % killed
    if mode == "undelivered":
        for t in tokens:
            assert count_by_message_id(raven, t) == 0, "delivered while raven-local was stopped"
        assert raven.queue_files("env"), "no committed envelope in the spool after 250"
    raven.start()
    expect = {tokens[0]: 1, tokens[1]: 1, tokens[2]: 2, tokens[3]: 1, tokens[4]: 1}
    for t, n in expect.items():
        rv.wait_until(lambda: count_by_message_id(raven, t) >= n, rv.DELIVERY_TIMEOUT,
                      what="delivery of %s after restart" % t)
    raven.wait_queue_empty()
    time.sleep(0.3)
    for t, n in expect.items():
        assert count_by_message_id(raven, t) == n, t
    for qid in ids:
        assert ("id=%s" % qid) in raven.log_text()


def test_kill9_twice_still_once(factory):
    """Crash again right after recovery starts delivering."""
    raven = factory()
    stop_local(raven)
    tokens = [rv.unique("k9b-%d" % i) for i in range(3)]
    for t in tokens:
        send_one(raven.port, t)
    raven.kill9_all()
    raven.start()
    raven.kill9_all()
    raven.start()
    for t in tokens:
        raven.wait_for("alice", t)
    raven.wait_queue_empty()
    time.sleep(0.3)
    assert [count_by_message_id(raven, t) for t in tokens] == [1, 1, 1]


def _start_data(port, token):
    s = rv.session(port)
    assert s.cmd(MAIL).code == 250
    assert s.cmd("RCPT TO:<alice@example.org>").code == 250
    assert s.cmd("DATA").code == 354
    partial = rv.dot_stuff_crlf(rv.make_message(token, body="part\r\n" * 2000))
    s.send(partial[:len(partial) // 2])
    return s


@pytest.mark.parametrize("how", ["client-drops", "daemon-killed"])
def test_interrupted_data_never_delivered(factory, how):
    raven = factory()
    token = rv.unique("cut")
    s = _start_data(raven.port, token)
    time.sleep(0.3)  # let the daemon write part of it
    if how == "client-drops":
        s.close()
        time.sleep(0.3)
        raven.stop()
    else:
        raven.kill9_all()
        s.close()
    raven.start()
    # the daemon works after the restart
    ok = rv.unique("after-cut")
    send_one(raven.port, ok)
    raven.wait_for("alice", ok)
    raven.wait_queue_empty()
    assert raven.queue_files("data") == []
    assert raven.queue_files("env") == []
    assert raven.queue_files("tmp") == []
    assert count_by_message_id(raven, token) == 0


def test_client_drop_mid_data_cleans_spool_without_restart(raven):
    token = rv.unique("drop")
    s = _start_data(raven.port, token)
    time.sleep(0.2)
    s.close()
    rv.wait_until(lambda: not raven.queue_files("data") and not raven.queue_files("env"), 5,
                  what="the half-received message to be discarded (data=%s)"
                  % raven.queue_files("data"))
    raven.assert_not_delivered(token, users=["alice"], settle=0.3)


def _corrupt(path, how):
    with open(path, "rb") as f:
        raw = f.read()
    if how == "truncated":
        raw = raw[:max(1, len(raw) // 2)]
    elif how == "bitflip":
        b = bytearray(raw)
        for i in range(len(b) // 3, len(b), max(1, len(b) // 7)):
            b[i] ^= 0x5A
        raw = bytes(b)
    elif how == "garbage":
        raw = b"\x00garbage\xff" * 10
    elif how == "empty":
        raw = b""
    with open(path, "wb") as f:
        f.write(raw)


@pytest.mark.parametrize("how", ["truncated", "bitflip", "garbage", "empty"])
def test_corrupt_envelope_quarantined(factory, how):
    raven = factory()
    stop_local(raven)
    bad, good = rv.unique("bad"), rv.unique("good")
    bad_id = send_one(raven.port, bad)
    good_id = send_one(raven.port, good, rcpt="bob@example.org")
    raven.kill9_all()
    env = raven.queue_files("env")
    assert len(env) == 2, "expected two committed envelopes, found %s" % env
    victim = [e for e in env if bad_id in e]
    assert len(victim) == 1, "no envelope file named after queue id %s in %s" % (bad_id, env)
    _corrupt(os.path.join(raven.queue, "env", victim[0]), how)
    raven.start()
    # the intact message is still delivered; the damaged one is moved aside
    raven.wait_for("bob", good)
    rv.wait_until(lambda: raven.queue_files("corrupt"), 5, what="a file in queue/corrupt")
    assert any(bad_id in c for c in raven.queue_files("corrupt")), raven.queue_files("corrupt")
    assert victim[0] not in raven.queue_files("env")
    # and the daemon keeps serving
    after = rv.unique("after-corrupt")
    send_one(raven.port, after)
    raven.wait_for("alice", after)
    raven.assert_not_delivered(bad, settle=0.3)
    assert raven.proc.poll() is None
    assert good_id != bad_id


def test_kill9_under_load(factory):
    """Sessions keep sending while every process is killed: each message that
    got its 250 is delivered exactly once after restart, none twice."""
    raven = factory(per_ip=50, connections=100)
    acked, sent = [], []
    lock = threading.Lock()
    stop = threading.Event()

    def worker(n):
        i = 0
        while not stop.is_set():
            t = rv.unique("load%d-%d" % (n, i))
            i += 1
            with lock:
                sent.append(t)
            try:
                rr, final = rv.send_raw(raven.port, "s@remote.test", ["frank@example.org"],
                                        rv.dot_stuff_crlf(rv.make_message(t)))
            except Exception:
                return
            if final.code == 250:
                with lock:
                    acked.append(t)
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    rv.wait_until(lambda: len(acked) >= 40, 20, what="40 acknowledged messages")
    raven.kill9_all()
    stop.set()
    for t in threads:
        t.join(20)
    raven.start()
    for t in list(acked):
        rv.wait_until(lambda: count_by_message_id(raven, t) >= 1, rv.DELIVERY_TIMEOUT,
                      what="acknowledged %s after restart" % t)
    raven.wait_queue_empty()
    time.sleep(0.3)
    dup = [t for t in sent if count_by_message_id(raven, t) > 1]
    assert not dup, "delivered more than once: %s" % dup[:5]
    lost = [t for t in acked if count_by_message_id(raven, t) != 1]
    assert not lost, "acknowledged but not delivered: %s" % lost[:5]
    assert raven.queue_files("tmp") == []


def test_sigterm_with_open_sessions_keeps_mail(factory):
    raven = factory()
    raven.role_pid("raven-local")
    stop_local(raven)
    token = rv.unique("term")
    send_one(raven.port, token)
    s = _start_data(raven.port, rv.unique("term-partial"))
    idle = rv.session(raven.port)
    try:
        raven.proc.send_signal(signal.SIGTERM)
        # a stopped child cannot act on SIGTERM; let it continue
        os.kill(raven.role_pid("raven-local"), signal.SIGCONT)
        rc = raven.proc.wait(10)
        assert rc == 0, rc
    finally:
        s.close()
        idle.close()
    raven.wait_gone(5)
    raven.start()
    raven.wait_for("alice", token)
    raven.wait_queue_empty()
    assert count_by_message_id(raven, token) == 1


def _unfinished(raven, qid, how):
    """Leave a committed message as a crash during its commit wave could:
    the wave renames the envelope into env/ before it syncs anything."""
    data = os.path.join(raven.queue, "data", qid)
    env = os.path.join(raven.queue, "env", qid)
    if how == "data-missing":
        os.unlink(data)
    elif how == "data-short":
        os.truncate(data, os.path.getsize(data) // 2)
    elif how == "data-zeros":  # the size reached the disk, the blocks did not
        size = os.path.getsize(data)
        with open(data, "r+b") as f:
            f.write(b"\0" * size)
    elif how == "env-zeros":
        size = os.path.getsize(env)
        with open(env, "r+b") as f:
            f.write(b"\0" * size)


@pytest.mark.parametrize("how", ["data-missing", "data-short", "data-zeros", "env-zeros"])
def test_unfinished_wave_set_aside(factory, how):
    """What an interrupted one-wave commit leaves in env/ is never delivered,
    never deleted: set aside in corrupt/ and logged (docs/SPOOL.md §5); an
    acknowledged message beside it is recovered and delivered once."""
    raven = factory()
    stop_local(raven)
    bad, good = rv.unique("wave-bad"), rv.unique("wave-good")
    bad_id = send_one(raven.port, bad)
    good_id = send_one(raven.port, good, rcpt="bob@example.org")
    raven.kill9_all()
    env = raven.queue_files("env")
    assert len(env) == 2 and bad_id in env and good_id in env, env
    _unfinished(raven, bad_id, how)
    raven.start()
    raven.wait_for("bob", good)
    rv.wait_until(lambda: any(bad_id in c for c in raven.queue_files("corrupt")), 5,
                  what="the unfinished message in queue/corrupt")
    assert bad_id not in raven.queue_files("env")
    assert bad_id not in raven.queue_files("data")
    log = raven.log_text()
    assert "event=spool-recover action=set-aside id=%s committed=unknown" % bad_id in log, log
    raven.assert_not_delivered(bad, settle=0.3)
    raven.wait_queue_empty()
    assert count_by_message_id(raven, good) == 1
