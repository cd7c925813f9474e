"""How Raven makes mail durable, seen from outside with strace: by default a
commit batch and a delivery batch sync only Raven's own files — fdatasync of
each file and fsync of its directories, never syncfs(2), which would make
every 250 wait for every other writer on the file system. The option
`queue sync syncfs` brings syncfs back, for both. The mail arrives either way.

Needs root (strace attaches to the roles, which run as another user) and
strace."""

import os
import re
import shutil
import signal
import subprocess
import time

import pytest

import raven as rv

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="strace needs root to attach to the roles"),
    pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed"),
]

CALL = re.compile(r"^\d+\s+(\w+)\(")


def trace(raven, role, out):
    """strace the role's every thread for the sync system calls; returns the Popen."""
    pid = raven.role_pid(role)
    p = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=fdatasync,fsync,syncfs",
                          "-o", out, "-p", str(pid)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # strace prints nothing when attached with -qq: wait until the file exists
    rv.wait_until(lambda: os.path.exists(out), 5, what="strace to attach to %s" % role)
    time.sleep(0.3)
    return p


def calls(path):
    out = {}
    with open(path) as f:
        for line in f:
            m = CALL.match(line)
            if m and "resumed" not in line:
                out[m.group(1)] = out.get(m.group(1), 0) + 1
    return out


def stop_trace(p):
    p.send_signal(signal.SIGINT)
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def traced_run(factory, extra, n=6):
    raven = factory(extra=extra)
    tq = os.path.join(raven.root, "strace.queue")
    tl = os.path.join(raven.root, "strace.local")
    pq = trace(raven, "raven-queue", tq)
    pl = trace(raven, "raven-local", tl)
    try:
        tokens = [rv.unique("sync-%d" % i) for i in range(n)]
        for t in tokens:
            rv.sendmail(raven.port, "sender@remote.test", ["alice@example.org"],
                        rv.make_message(t))
        for t in tokens:
            raven.wait_for("alice", t)
        raven.wait_queue_empty()
        time.sleep(0.2)
    finally:
        stop_trace(pq)
        stop_trace(pl)
    return calls(tq), calls(tl), n


def test_batches_sync_only_their_own_files(factory):
    queue, local, n = traced_run(factory, [])
    assert queue.get("syncfs", 0) == 0, "the queue called syncfs: %s" % queue
    assert local.get("syncfs", 0) == 0, "the local role called syncfs: %s" % local
    # each message: its data file and its envelope; each batch: data/ and env/
    assert queue.get("fdatasync", 0) >= 2 * n, queue
    assert queue.get("fsync", 0) >= 2, queue
    # each delivery: its Maildir file; each batch: new/
    assert local.get("fdatasync", 0) >= n, local
    assert local.get("fsync", 0) >= 1, local


def test_syncfs_option(factory):
    queue, local, n = traced_run(factory, [rv.sync_config("syncfs")])
    assert queue.get("syncfs", 0) >= 1, queue
    assert local.get("syncfs", 0) >= 1, local
    # no per-file data syncs for the commits (STATE records of deferrals
    # would have one each, and there are none here)
    assert queue.get("fdatasync", 0) == 0, queue
    assert local.get("fdatasync", 0) == 0, local
