"""The command-line faces a service manager and an administrator use:
ravend -h and -V, ravenctl -V, ravenctl status (a health check: 0 when the
daemon answers), and readiness under systemd (sd_notify READY=1 on the
socket in NOTIFY_SOCKET once the listeners are open), tested with a fake
notification socket. docs/ravend.8.md, docs/ravenctl.8.md."""

import json
import os
import re
import socket
import subprocess
import time

import pytest

import raven as rv

RAVENCTL = rv.RAVENCTL
LIBS = ("libevent", "OpenSSL", "libunbound", "libpsl", "libcrypt", "libseccomp", "libcap",
        "libsystemd")


def project_version():
    text = (rv.REPO / "meson.build").read_text()
    return re.search(r"version\s*:\s*'([^']+)'", text).group(1)


def run(*argv, **kw):
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=20,
                          stdin=subprocess.DEVNULL, **kw)


def ctl(raven, *args):
    return run(RAVENCTL, "-c", raven.conf, *args, cwd=raven.root)


def test_ravend_help():
    p = run(rv.RAVEND, "-h")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("usage: ravend [-c FILE] [-d] [-n] [-v]\n")
    for opt in ("-c FILE", "-d", "-n", "-v", "-h", "-V"):
        assert "\n  %s " % opt in p.stdout, opt
    assert p.stderr == ""


def test_ravend_usage_error():
    for argv in (["-x"], ["extra"], ["-c"]):
        p = run(rv.RAVEND, *argv)
        assert p.returncode == 2, (argv, p)
        assert "usage: ravend" in p.stderr
        assert p.stdout == ""


@pytest.mark.parametrize("prog", ["ravend", "ravenctl"])
def test_version(prog):
    exe = rv.RAVEND if prog == "ravend" else RAVENCTL
    for flag in ("-V",) if prog == "ravend" else ("-V", "--version"):
        p = run(exe, flag)
        assert p.returncode == 0, p.stderr
        lines = p.stdout.splitlines()
        assert re.fullmatch(r"%s %s( \(git [0-9a-f]+(-dirty)?\))?"
                            % (prog, re.escape(project_version())), lines[0]), lines[0]
        assert lines[1] == "built with:"
        names = [l.split()[0] for l in lines[2:]]
        assert names == list(LIBS)
        for l in lines[2:]:
            # a version number, or an honest "not used by this build"
            assert re.fullmatch(r"  \S+ +([0-9][^ ]*( \(running [^)]+\))?|not used by this build)",
                                l), l
        # the OpenSSL and libevent the process runs with are the ones the
        # machine has (the line shows "running X" only when they differ)
        assert re.search(r"OpenSSL +3\.", p.stdout)


def test_ravenctl_help():
    p = run(RAVENCTL, "-h")
    assert p.returncode == 0
    assert p.stdout.startswith("usage: ravenctl")
    assert "status" in p.stdout


def test_status(raven):
    rv.wait_until(lambda: ctl(raven, "status").returncode == 0, rv.START_TIMEOUT,
                  what="ravenctl status to answer")
    # every role connected to the queue (they start in parallel)
    rv.wait_until(lambda: "smtp 1, local 1, relay 1" in ctl(raven, "status").stdout, rv.START_TIMEOUT,
                  what="smtp, local and relay connected")
    p = ctl(raven, "status")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert re.fullmatch(r"ravend %s( \(git \S+\))?: up, pid %d" % (re.escape(project_version()),
                                                                   raven.pid), lines[0]), lines[0]
    assert lines[1] == "hostname:   %s" % rv.HOSTNAME
    queue_pid = raven.role_pid("raven-queue")
    assert re.fullmatch(r"roles:      queue \(pid %d, up \d+s\), smtp 1, local 1, relay 1" % queue_pid,
                        lines[2]), lines[2]
    assert lines[3] == "listeners:  127.0.0.1:%d" % raven.port
    assert lines[4] == "queue:      0 messages, 0 recipients; 0 deliveries in flight"

    j = json.loads(ctl(raven, "--json", "status").stdout)
    assert j["pid"] == raven.pid and j["queue_pid"] == queue_pid
    assert j["hostname"] == rv.HOSTNAME
    assert j["roles"] == {"queue": 1, "smtp": 1, "local": 1, "relay": 1}
    assert j["listeners"] == [{"address": "127.0.0.1", "port": raven.port, "submission": False}]
    assert j["queue"]["messages"] == 0 and j["queue"]["jobs_in_flight"] == 0
    assert 0 <= j["uptime"] < 60

    # a message that cannot be delivered yet is counted
    rv.maildir_locked(raven, "alice")
    qid = rv.sendmail(raven.port, "sender@remote.test", ["alice@example.org"],
                      rv.make_message(rv.unique()))
    rv.wait_log(raven, "deferred", id=qid)
    j = json.loads(ctl(raven, "status", "--json").stdout)
    assert j["queue"]["messages"] == 1 and j["queue"]["states"]["deferred"] == 1
    assert "queue:      1 message, 1 recipient (1 deferred)" in ctl(raven, "status").stdout
    rv.maildir_unlock(raven, "alice")


def test_status_without_daemon(factory):
    """A health check: non-zero, and why, when nothing answers."""
    r = factory(start=False)
    p = ctl(r, "status")
    assert p.returncode == 1
    assert p.stdout == ""
    assert "is ravend running?" in p.stderr


def test_status_after_stop(factory):
    r = factory()
    rv.wait_until(lambda: ctl(r, "status").returncode == 0, rv.START_TIMEOUT,
                  what="ravenctl status to answer")
    r.stop()
    p = ctl(r, "status")
    assert p.returncode == 1, p


def test_notify_ready_when_listening(factory, tmp_path):
    """Type=notify: READY=1 reaches NOTIFY_SOCKET, and by then the listener
    accepts connections; the roles do not inherit NOTIFY_SOCKET."""
    if "libsystemd  not used" in run(rv.RAVEND, "-V").stdout:
        pytest.skip("built without libsystemd (-Dsystemd=disabled): no readiness notification")
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    try:
        r = factory(start=False)
        r.popen_kw = {"env": dict(os.environ, NOTIFY_SOCKET=path)}
        t0 = time.monotonic()
        r.start(wait=False)
        sock.settimeout(rv.START_TIMEOUT)
        try:
            msg = sock.recv(4096).decode()
        except socket.timeout:
            pytest.fail("no notification within %.0fs\n%s" % (rv.START_TIMEOUT, r.log_tail()))
        fields = dict(l.split("=", 1) for l in msg.splitlines() if "=" in l)
        assert fields.get("READY") == "1", msg
        assert fields.get("STATUS") == "listening on 1 socket(s)", msg
        # the kernel accepts from now on: connect succeeds at once
        with socket.create_connection(("127.0.0.1", r.port), timeout=2):
            pass
        assert time.monotonic() - t0 < rv.START_TIMEOUT
        r.wait_ready()
        assert "event=ready notified=systemd" in r.log_text()
        # the roles are not dumpable: their environment is root's to read
        for name in ("raven-smtp", "raven-queue", "raven-local") if os.geteuid() == 0 else ():
            with open("/proc/%d/environ" % r.role_pid(name), "rb") as f:
                assert b"NOTIFY_SOCKET=" not in f.read(), name
        # one notification only
        sock.settimeout(0.5)
        with pytest.raises(socket.timeout):
            sock.recv(4096)
    finally:
        sock.close()


def test_no_notify_socket(raven):
    """Outside systemd nothing is sent and nothing is logged about it."""
    assert "event=ready" not in raven.log_text()
    assert "notify-failed" not in raven.log_text()
