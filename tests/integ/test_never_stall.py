"""Faults that must neither lose mail nor stop service: a second instance on
the same data directory, descriptors running out at accept and in DATA, a
data directory the daemon cannot reach, a role that cannot start, and
clients too slow to be anything but an attack."""
import os
import resource
import signal
import subprocess
import threading
import time

import pytest

import raven as rv

MAIL = "MAIL FROM:<sender@remote.test>"


def message(token):
    return ("Subject: %s\r\nMessage-ID: <%s@test>\r\n\r\nbody %s\r\n" % (token, token, token)).encode()


def send_one(port, token, rcpt="alice@example.org"):
    with rv.session(port) as s:
        assert s.cmd(MAIL).code == 250
        assert s.cmd("RCPT TO:<%s>" % rcpt).code == 250
        assert s.cmd("DATA").code == 354
        s.send(message(token) + b".\r\n")
        r = s.reply()
        assert r.code == 250, r


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def test_second_instance_refused_under_load(factory):
    """A second ravend on a data directory in use stops at once and touches
    nothing: every message the first one acknowledged is delivered, its pid
    file and control socket stay its own; ravend -n is unaffected."""
    raven = factory(per_ip=50, connections=100)
    pidfile = os.path.join(raven.data, "run", "ravend.pid")
    with open(pidfile) as f:
        pid_before = f.read()
    acked, errors = [], []
    stop = threading.Event()

    def load(n):
        while not stop.is_set():
            token = rv.unique("load%d" % n)
            try:
                send_one(raven.port, token)
                acked.append(token)
            except (AssertionError, OSError) as e:
                errors.append(repr(e))

    threads = [threading.Thread(target=load, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        for _ in range(3):
            t0 = time.monotonic()
            p = subprocess.run([rv.RAVEND, "-c", raven.conf, "-d"], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=20)
            assert p.returncode == 1, p
            assert "is in use by another ravend (pid %s)" % pid_before.strip() in p.stderr, p
            assert time.monotonic() - t0 < 5
            chk = subprocess.run([rv.RAVEND, "-n", "-c", raven.conf], capture_output=True,
                                 text=True, timeout=20)
            assert chk.returncode == 0, chk
            time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors[:5]
    assert len(acked) > 50
    with open(pidfile) as f:
        assert f.read() == pid_before
    # the control socket still answers for the first instance
    ctl = os.path.join(os.path.dirname(rv.RAVEND), "..", "ctl", "ravenctl")
    out = subprocess.run([ctl, "-c", raven.conf, "stats"], capture_output=True, text=True,
                         timeout=20)
    assert out.returncode == 0, out
    for token in acked:
        raven.wait_for("alice", token)
    assert not raven.queue_files("corrupt"), raven.queue_files("corrupt")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a directory the daemon's user cannot enter")
def test_unreachable_data_directory(factory):
    """A data directory the daemon's user cannot reach is reported by -n and
    at start, instead of failing (or restarting roles) for ever."""
    raven = factory(start=False)
    closed = os.path.join(raven.root, "closed")
    os.mkdir(closed, 0o700)
    with open(raven.conf) as f:
        text = f.read()
    with open(raven.conf, "w") as f:
        f.write(text.replace('data "%s"' % raven.data, 'data "%s"' % os.path.join(closed, "var")))
    p = subprocess.run([rv.RAVEND, "-n", "-c", raven.conf], capture_output=True, text=True,
                       timeout=20)
    assert p.returncode == 1, p
    assert "cannot be reached by user %s: %s is not searchable" % (rv.run_user(), closed) \
        in p.stderr, p.stderr
    t0 = time.monotonic()
    p = subprocess.run([rv.RAVEND, "-c", raven.conf, "-d"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 1 and "is not searchable" in p.stderr, p
    assert time.monotonic() - t0 < 5


def test_role_that_cannot_start_stops_ravend(factory):
    """A role that dies at start-up for a reason that will not fix itself
    (here: the spool's env/ is a file) makes ravend exit with that reason
    rather than restart it twice a second for ever."""
    raven = factory(start=False)
    os.makedirs(raven.queue, exist_ok=True)
    with open(os.path.join(raven.queue, "env"), "w") as f:
        f.write("not a directory\n")
    raven.start(wait=False)
    rc = raven.proc.wait(20)
    assert rc == 1, rc
    log = open(raven.log, encoding="utf-8", errors="replace").read()
    assert "event=role-cannot-start role=queue" in log, raven.log_tail()
    assert "event=spool-open-failed" in log
    starts = log.count("event=role-started role=queue")
    assert starts <= 2, "the queue was started %d times" % starts


def low_fd_limit(n):
    def preexec():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return preexec


def test_connection_limit_the_descriptors_cannot_hold(factory):
    """ravend -n and the start refuse a connection limit whose sockets alone
    the descriptor limit cannot hold."""
    raven = factory(start=False, connections=5000, per_ip=5000)
    p = subprocess.run([rv.RAVEND, "-n", "-c", raven.conf], capture_output=True, text=True,
                       timeout=20, preexec_fn=low_fd_limit(1024))
    assert p.returncode == 1, p
    assert "limits connections 5000 needs at least 5256 descriptors but the limit is 1024" \
        in p.stderr, p.stderr


SESSIONS = 300


def test_descriptor_exhaustion(factory):
    """With descriptors for every socket but not for every spool file:
    sessions in DATA that find none get 451 4.3.0 and try again later; the
    listener rests instead of spinning while accept() has none either; the
    smtp role never dies, nothing acknowledged is lost, and once sessions
    finish the others deliver."""
    raven = factory(start=False, connections=SESSIONS, per_ip=SESSIONS, timeout=60)
    limit = SESSIONS + 256
    raven.popen_kw = dict(preexec_fn=low_fd_limit(limit))
    raven.start()
    smtp = raven.role_pid("raven-smtp")
    sessions, ok, refused = [], [], []
    try:
        # every socket fits; every spool file does not
        for i in range(SESSIONS - 10):
            s = rv.session(raven.port, timeout=20)
            sessions.append(s)
            assert s.cmd(MAIL).code == 250
            assert s.cmd("RCPT TO:<alice@example.org>").code == 250
        for s in sessions:
            r = s.cmd("DATA")
            if r.code == 354:
                ok.append(s)
            else:
                assert (r.code, r.enh) == (451, "4.3.0"), r
                refused.append(s)
        assert refused, "no DATA ran out of descriptors (%d sessions)" % len(sessions)
        assert len(ok) > 50
        # the listener rests while accept() has no descriptor either
        extra = rv.socket.create_connection(("127.0.0.1", raven.port), timeout=5)
        cpu0 = cpu_seconds(smtp)
        time.sleep(1.5)
        assert cpu_seconds(smtp) - cpu0 < 0.5, "the smtp role spins"
        tokens = []
        for s in ok:
            token = rv.unique("held")
            s.send(message(token) + b".\r\n")
            r = s.reply()
            assert r.code == 250, r
            tokens.append(token)
            s.close()
        for s in refused:
            token = rv.unique("retry")
            assert s.cmd("DATA").code == 354
            s.send(message(token) + b".\r\n")
            assert s.reply().code == 250
            tokens.append(token)
            s.close()
        extra.close()
    finally:
        for s in sessions:
            s.close()
    assert raven.role_pid("raven-smtp") == smtp  # never restarted
    # a descriptor the kernel could not pass to smtp, or one the queue could
    # not open: either way one request failed, not the role
    lost = rv.log_events(raven, "ipc-fd-lost") + rv.log_events(raven, "spool-create-failed")
    assert lost, raven.log_tail()
    paused = rv.log_events(raven, "accept-paused")
    assert len(paused) <= 3, len(paused)
    for token in tokens:
        raven.wait_for("alice", token, timeout=30)


def test_slowloris_does_not_lock_out(factory):
    """Clients that send a byte just often enough, in command state and in
    DATA, hold every connection slot — until the session deadline and the
    minimum DATA rate cut them; then a legitimate client delivers."""
    raven = factory(per_ip=3, connections=3, timeout=2,
                    extra=["timeout session 4", "limits data-rate 200"])
    slow = []
    done = threading.Event()
    cut = []

    def drip(s, first):
        try:
            s.send(first)
            while not done.is_set():
                time.sleep(1)
                s.send(b"X")
        except OSError:
            pass

    for kind in ("command", "data", "noop"):
        s = rv.session(raven.port)
        if kind == "data":
            assert s.cmd(MAIL).code == 250
            assert s.cmd("RCPT TO:<alice@example.org>").code == 250
            assert s.cmd("DATA").code == 354
            first = b"Subject: slow\r\n"
        elif kind == "noop":
            first = b""
        else:
            first = b"NOOP "
        slow.append(s)
        if kind == "noop":
            def noops(s=s):
                try:
                    while not done.is_set():
                        time.sleep(1.5)
                        s.send(b"NOOP\r\n")
                except OSError:
                    pass
            threading.Thread(target=noops, daemon=True).start()
        else:
            threading.Thread(target=drip, args=(s, first), daemon=True).start()
    # every slot is taken: a new client is refused for now
    with rv.RawSMTP(raven.port) as c:
        assert c.greeting().code == 421
    t0 = time.monotonic()
    token = rv.unique("legit")
    delivered = False
    while time.monotonic() - t0 < 12 and not delivered:
        try:
            send_one(raven.port, token)
            delivered = True
        except (AssertionError, OSError, rv.Closed):
            time.sleep(0.3)
    done.set()
    assert delivered, raven.log_tail()
    assert time.monotonic() - t0 < 8
    raven.wait_for("alice", token)
    # the one in DATA went for being too slow; the other two at the deadline
    rv.wait_log(raven, "data-too-slow", timeout=10)
    rv.wait_log(raven, "session-deadline", count=2, timeout=10)
    for s in slow:
        assert s.is_closed(timeout=5)
        s.close()
