"""Fault tolerance of the queue: kill -9 of every ravend process in the middle
of a concurrent load, a spool filesystem that fills up, and a damaged spool
file found at start-up. In every case a 250 stays a promise: delivered
exactly once and whole; what was refused or damaged is never delivered."""

import os
import smtplib
import subprocess
import threading
import time

import pytest

import raven as rv

THREADS = 20
PER_THREAD = 30
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace")


def load_body(token, n):
    """A body long enough (~4 KB) that a truncated copy cannot pass for whole."""
    return "".join("%s line %03d of %d: %s\n" % (token, i, n, "x" * (i % 37)) for i in range(80))


def delivered_by_token(raven):
    """{token: [text after Raven's Received header, ...]} over every mailbox,
    for messages whose own Message-ID is <token@test>."""
    out = {}
    for path, raw in rv.delivered_files(raven).items():
        _, rest = rv.split_received(raw)
        head = rest.split(b"\n\n", 1)[0]
        mid = [l for l in head.split(b"\n") if l.lower().startswith(b"message-id:")]
        assert len(mid) == 1, "%s: no single Message-ID\n%r" % (path, rest[:400])
        token = mid[0].split(b"<", 1)[1].split(b"@", 1)[0].decode()
        out.setdefault(token, []).append(rest)
    return out


def test_kill9_during_concurrent_load(factory):
    raven = factory(per_ip=50, connections=100)
    lock = threading.Lock()
    sent, acked, errors = {}, set(), []
    stop = threading.Event()

    def worker(n):
        try:
            s = smtplib.SMTP("127.0.0.1", raven.port, local_hostname="load%d.test" % n,
                             timeout=15)
            s.ehlo()
        except (OSError, smtplib.SMTPException) as e:
            with lock:
                errors.append("thread %d connect: %r" % (n, e))
            return
        try:
            for i in range(PER_THREAD):
                if stop.is_set():
                    break
                token = rv.unique("load%02d-%02d" % (n, i))
                user = USERS[(n + i) % len(USERS)]
                msg = rv.make_message(token, to=user + "@example.org",
                                      body=load_body(token, i))
                with lock:
                    sent[token] = rv.normalize(msg)
                try:
                    s.sendmail("loader%d@remote.test" % n, [user + "@example.org"],
                               rv.normalize(msg).replace(b"\n", b"\r\n"))
                except (OSError, smtplib.SMTPException):
                    return  # the daemon died under us: expected after the kill
                with lock:
                    acked.add(token)
        finally:
            try:
                s.close()
            except OSError:
                pass

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(THREADS)]
    for t in threads:
        t.start()
    try:
        rv.wait_until(lambda: len(acked) >= 120, 20, what="120 acknowledged messages")
    finally:
        killed = raven.kill9_all()  # parent and every child, found by ppid in /proc
        stop.set()
    for t in threads:
        t.join(20)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    assert len(killed) >= 4, "expected the parent and its roles, killed %s" % killed
    n_acked = len(acked)
    assert n_acked < len(sent), "the load had finished before the kill: nothing was cut"

    raven.start()
    def all_acked_delivered():
        got = delivered_by_token(raven)
        return all(t in got for t in acked)
    rv.wait_until(all_acked_delivered, 30, interval=0.3,
                  what="every acknowledged message after the restart")
    raven.wait_queue_empty(timeout=20)
    time.sleep(0.5)
    got = delivered_by_token(raven)
    unknown = sorted(set(got) - set(sent))
    assert not unknown, "delivered messages nobody sent: %s" % unknown[:5]
    twice = sorted(t for t, copies in got.items() if len(copies) != 1)
    assert not twice, "delivered more than once: %s" % [(t, len(got[t])) for t in twice[:5]]
    lost = sorted(t for t in acked if t not in got)
    assert not lost, "acknowledged (250) but never delivered: %s" % lost[:5]
    partial = sorted(t for t, copies in got.items() if copies[0] != sent[t])
    assert not partial, "delivered but not whole: %s" % partial[:5]
    assert raven.queue_files("tmp") == []
    print("sent %d, acknowledged %d, delivered %d" % (len(sent), n_acked, len(got)))


# --- a full spool filesystem ----------------------------------------------------

def fill(path):
    """Write path until the filesystem is full; return the bytes written."""
    n = 0
    chunk = b"\0" * 4096
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while n < 64 * 1024 * 1024:
            try:
                w = os.write(fd, chunk)
            except OSError:
                break
            if w <= 0:
                break
            n += w
        os.fsync(fd)
    finally:
        os.close(fd)
    return n


def spool_bytes(raven, qid):
    out = {}
    for sub in ("env", "data"):
        with open(os.path.join(raven.queue, sub, qid), "rb") as f:
            out[sub] = f.read()
    return out


def try_send(port, token, rcpt):
    """One transaction; returns (reply to DATA, final reply or None)."""
    with rv.session(port) as s:
        r = s.cmd("MAIL FROM:<sender@remote.test>")
        assert r.code == 250, r
        r = s.cmd("RCPT TO:<%s>" % rcpt)
        assert r.code == 250, r
        d = s.cmd("DATA")
        if d.code != 354:
            return d, None
        s.send(rv.dot_stuff_crlf(rv.make_message(token, to=rcpt, body=load_body(token, 1))))
        s.send(b".\r\n")
        final = s.reply()
        try:
            s.cmd("QUIT")
        except (rv.Closed, OSError):
            pass
        return d, final


def test_spool_filesystem_full(factory, request):
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs for the spool needs root")
    # no room kept free: this is about a disk that fills up under the spool
    raven = factory(start=False, per_ip=20, connections=40,
                    extra=[rv.queue_config(lifetime="60s"), rv.min_free_config(0, 0)])
    os.makedirs(raven.queue, mode=0o700)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", raven.queue],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip("cannot mount a tmpfs on the spool: %s" % (p.stderr.strip() or p.returncode))

    def unmount():
        raven.stop()
        r = subprocess.run(["umount", raven.queue], capture_output=True, text=True)
        if r.returncode != 0:
            subprocess.run(["umount", "-l", raven.queue], capture_output=True)
    request.addfinalizer(unmount)

    rv.maildir_locked(raven, "carol")
    raven.start()
    old = [rv.unique("before-full-%d" % i) for i in range(3)]
    old_ids = [rv.sendmail(raven.port, "sender@remote.test", ["carol@example.org"],
                           rv.make_message(t, to="carol@example.org", body=load_body(t, 2)))
               for t in old]
    for qid in old_ids:
        rv.wait_log(raven, "deferred", id=qid)
    before = {qid: spool_bytes(raven, qid) for qid in old_ids}

    filler = os.path.join(raven.queue, "filler")
    assert fill(filler) > 0
    with pytest.raises(OSError):  # really full
        with open(os.path.join(raven.queue, "probe"), "wb") as f:
            f.write(b"x" * 8192)
            f.flush()
            os.fsync(f.fileno())
    try:
        os.unlink(os.path.join(raven.queue, "probe"))
    except OSError:
        pass

    refused = rv.unique("while-full")
    d, final = try_send(raven.port, refused, "alice@example.org")
    last = final if final is not None else d
    assert (last.code, last.enh) == (452, "4.3.1"), "DATA %r, final %r" % (d, final)
    assert raven.proc.poll() is None
    # let a retry or two of the queued messages run against the full disk
    time.sleep(2.5)
    for qid in old_ids:
        now = spool_bytes(raven, qid)
        assert now["data"] == before[qid]["data"], "data/%s changed while the disk was full" % qid
        # STATE records are only ever appended: the committed part is untouched
        assert now["env"].startswith(before[qid]["env"]), "env/%s rewritten" % qid

    os.unlink(filler)
    after = rv.unique("after-full")
    d, final = try_send(raven.port, after, "alice@example.org")
    assert final is not None and final.code == 250, "DATA %r, final %r" % (d, final)
    raven.wait_for("alice", after)

    rv.maildir_unlock(raven, "carol")
    for t in old:
        raven.wait_for("carol", t, timeout=8)
    raven.wait_queue_empty()
    time.sleep(0.3)
    for t in old + [after]:
        assert rv.count_message_id(raven, t) == 1, t
    assert rv.count_message_id(raven, refused) == 0
    assert raven.queue_files("tmp") == []


# --- spool and Maildirs on one small file system --------------------------------

def mount_tmpfs(raven, request, opts):
    """A fresh tmpfs on the data directory: spool, Maildirs and control
    socket all on it (unmounted at the end)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs for the data directory needs root")
    os.makedirs(raven.data, mode=0o755)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", opts + ",mode=0755", "tmpfs", raven.data],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip("cannot mount a tmpfs: %s" % (p.stderr.strip() or p.returncode))

    def unmount():
        raven.stop()
        r = subprocess.run(["umount", raven.data], capture_output=True, text=True)
        if r.returncode != 0:
            subprocess.run(["umount", "-l", raven.data], capture_output=True)
    request.addfinalizer(unmount)


def fill_inodes(d, start=0):
    """Create empty files in d until the file system has no inode left;
    returns the next free index."""
    os.makedirs(d, exist_ok=True)
    i = start
    while True:
        try:
            os.close(os.open(os.path.join(d, "f%06d" % i), os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError:
            return i
        i += 1


def fill_blocks(path):
    """Append zeros to path until the file system is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while True:
            try:
                if os.write(fd, b"\0" * 65536) <= 0:
                    break
            except OSError:
                try:
                    os.write(fd, b"\0" * 512)  # the last partial block
                except OSError:
                    pass
                break
    finally:
        os.close(fd)


def refused_while_short(raven, refill, what):
    """Fill the file system and probe until a new message gets 452 4.3.1.
    The first probe after a fill may be accepted: the queue gives its
    recycled files back when short, and that room may be above the
    threshold; refilled, it is not."""
    last = None
    for _ in range(6):
        refill()
        time.sleep(1.1)  # the queue looks at statvfs at most once a second
        d, final = try_send(raven.port, rv.unique("probe-" + what), "alice@example.org")
        last = final if final is not None else d
        if (last.code, last.enh) == (452, "4.3.1"):
            return last
    raise AssertionError("new mail never refused while short of %s: last reply %r" % (what, last))


def storage_test(factory, request, tmpfs_opts, minfree, refill, free_some, free_all, what,
                 exhausted):
    """exhausted: refill leaves nothing at all (inodes), so that the queued
    deliveries first fail for want of space; otherwise (blocks: tmpfs keeps
    some slack) they may run in the room kept free for them."""
    raven = factory(start=False, per_ip=20, connections=40,
                    extra=[rv.queue_config(retry_min="1s", retry_max="2s", lifetime="120s"),
                           minfree])
    mount_tmpfs(raven, request, tmpfs_opts)
    raven.start()
    # a recycled-file pool: finished messages leave their files in free/
    for i in range(30):
        rv.sendmail(raven.port, "sender@remote.test", ["alice@example.org"],
                    rv.make_message(rv.unique("warm-%d" % i)))
    raven.wait_queue_empty()
    rv.maildir_locked(raven, "carol")
    held = [rv.unique("held-%d" % i) for i in range(5)]
    held_ids = [rv.sendmail(raven.port, "sender@remote.test", ["carol@example.org"],
                            rv.make_message(t, to="carol@example.org", body=load_body(t, 4)))
                for t in held]
    for qid in held_ids:
        rv.wait_log(raven, "deferred", id=qid)

    # full: new mail waits, acknowledged mail stays safe in the spool
    refused_while_short(raven, refill, what)
    assert rv.log_events(raven, "spool-space", state="short")
    rv.maildir_unlock(raven, "carol")
    if exhausted:
        time.sleep(2.5)  # deliveries find the disk full, and say so
        assert rv.log_events(raven, "delivery-no-space"), raven.log_tail()

    # a little room comes back, less than the threshold: the queued
    # deliveries take it, however hard new mail pushes
    stop = threading.Event()
    replies = []

    def pusher():
        while not stop.is_set():
            d, final = try_send(raven.port, rv.unique("push"), "bob@example.org")
            replies.append(final if final is not None else d)
            time.sleep(0.05)
    t = threading.Thread(target=pusher, daemon=True)
    t.start()
    try:
        free_some()
        for tok in held:
            raven.wait_for("carol", tok, timeout=20)
    finally:
        stop.set()
        t.join(20)
    assert replies and all((r.code, r.enh) == (452, "4.3.1") for r in replies[:3]), replies[:5]

    # room again: new mail is accepted, and everything is delivered once
    free_all()
    after = rv.unique("after-" + what)

    def accepted_now():
        _, final = try_send(raven.port, after, "alice@example.org")
        return final is not None and final.code == 250
    rv.wait_until(accepted_now, 10, interval=0.5, what="new mail accepted again")
    raven.wait_for("alice", after)
    raven.wait_queue_empty(timeout=20)
    for tok in held:
        assert rv.count_message_id(raven, tok) == 1, tok
    accepted = [r for r in replies if r.code == 250]
    for r in accepted:
        raven.wait_for("bob", rv.queue_id("250 " + r.text), timeout=10)
    assert raven.proc.poll() is None


def test_full_of_inodes_deliveries_win(factory, request):
    root = {}

    def refill():
        root["n"] = fill_inodes(root["dir"], root.get("n", 0))

    def free_some():
        for i in range(8):  # fewer than the 40 inodes kept free
            root["n"] -= 1
            os.unlink(os.path.join(root["dir"], "f%06d" % root["n"]))

    def free_all():
        for i in range(root["n"]):
            os.unlink(os.path.join(root["dir"], "f%06d" % i))
    raven_root = rv.make_root()
    root["dir"] = os.path.join(raven_root, "var", "filler")  # on the tmpfs
    storage_test(lambda **kw: factory(root=raven_root, **kw), request,
                 "size=64m,nr_inodes=400", rv.min_free_config("1M", 40), refill, free_some,
                 free_all, "inodes", True)


def test_full_of_blocks_deliveries_win(factory, request):
    st = {}

    def refill():
        fill_blocks(st["file"])

    def free_some():
        size = os.path.getsize(st["file"])
        os.truncate(st["file"], max(0, size - 96 * 1024))  # less than the 1M kept free

    def free_all():
        os.unlink(st["file"])
    raven_root = rv.make_root()
    st["file"] = os.path.join(raven_root, "var", "filler")
    storage_test(lambda **kw: factory(root=raven_root, **kw), request, "size=6m",
                 rv.min_free_config("1M", 10), refill, free_some, free_all, "blocks", False)


# --- a damaged spool file -------------------------------------------------------

def test_corrupt_envelope_set_aside_at_start(factory):
    raven = factory(start=False, extra=[rv.queue_config(lifetime="60s")])
    rv.maildir_locked(raven, "carol")
    raven.start()
    token = rv.unique("damaged")
    qid = rv.sendmail(raven.port, "sender@remote.test", ["carol@example.org"],
                      rv.make_message(token, to="carol@example.org"))
    rv.wait_log(raven, "deferred", id=qid)
    assert raven.stop() == 0
    path = os.path.join(raven.queue, "env", qid)
    with open(path, "rb") as f:
        raw = bytearray(f.read())
    mid = len(raw) // 2
    for i in range(mid - 4, mid + 4):
        raw[i] ^= 0xFF
    with open(path, "wb") as f:
        f.write(raw)

    raven.start()
    bad = rv.wait_log(raven, "spool-corrupt", id=qid, timeout=5)
    assert "moved" in bad[-1]["_line"] or bad[-1].get("moved"), bad
    rv.wait_until(lambda: any(c.startswith(qid) for c in raven.queue_files("corrupt")), 5,
                  what="%s in queue/corrupt (%s)" % (qid, raven.queue_files("corrupt")))
    assert qid not in raven.queue_files("env")
    assert not rv.log_events(raven, "recovered", id=qid)

    rv.maildir_unlock(raven, "carol")
    fresh = rv.unique("after-damage")
    rv.sendmail(raven.port, "sender@remote.test", ["carol@example.org", "alice@example.org"],
                rv.make_message(fresh, to="carol@example.org"))
    raven.wait_for("carol", fresh)
    raven.wait_for("alice", fresh)
    raven.wait_queue_empty()
    raven.assert_not_delivered(token, users=["carol"], settle=1.0)
    assert raven.proc.poll() is None


# --- a data file damaged on disk ------------------------------------------------

RAVENCTL = rv.RAVENCTL


def test_damaged_data_file_set_aside_not_delivered(factory):
    """A byte changed in a queued message's data file: the delivery reads it
    against the checksum its envelope recorded at commit, delivers nothing,
    and the message goes to corrupt/ with a loud log line; an intact message
    queued beside it is delivered."""
    raven = factory(start=False, extra=[rv.queue_config(retry_min="30s", retry_max="60s",
                                                        lifetime="300s")])
    rv.maildir_locked(raven, "carol")
    raven.start()
    bad, good = rv.unique("flipped"), rv.unique("intact")
    bad_id = rv.sendmail(raven.port, "sender@remote.test", ["carol@example.org"],
                         rv.make_message(bad, to="carol@example.org", body=load_body(bad, 3)))
    good_id = rv.sendmail(raven.port, "sender@remote.test", ["carol@example.org"],
                          rv.make_message(good, to="carol@example.org", body=load_body(good, 3)))
    rv.wait_log(raven, "deferred", id=bad_id)
    rv.wait_log(raven, "deferred", id=good_id)

    path = os.path.join(raven.queue, "data", bad_id)
    size = os.path.getsize(path)
    with open(path, "r+b") as f:  # one octet in the body, the size unchanged
        f.seek(size // 2)
        octet = f.read(1)
        f.seek(size // 2)
        f.write(bytes([octet[0] ^ 0x20]))
    assert os.path.getsize(path) == size

    rv.maildir_unlock(raven, "carol")
    r = subprocess.run([RAVENCTL, "-c", raven.conf, "flush"], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 0, r.stderr
    raven.wait_for("carol", good)
    rv.wait_until(lambda: any(c.startswith(bad_id) for c in raven.queue_files("corrupt")), 10,
                  what="%s in queue/corrupt (%s)" % (bad_id, raven.queue_files("corrupt")))
    assert bad_id not in raven.queue_files("env")
    assert bad_id not in raven.queue_files("data")
    # the log says which message and why, loudly
    found = rv.wait_log(raven, "data-corrupt", id=bad_id)
    assert "damaged" in found[0]["reason"] and " warn" in found[0]["_line"], found
    moved = rv.wait_log(raven, "spool-corrupt", id=bad_id)
    assert "checksum" in moved[-1]["_line"], moved
    raven.assert_not_delivered(bad, users=["carol"], settle=0.5)
    assert rv.count_message_id(raven, good) == 1
    assert raven.proc.poll() is None
