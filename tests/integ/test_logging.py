"""Where the log goes (raven.conf(5) "log"): a file or a syslog socket,
written by every role, the network-facing one jailed and unprivileged
included; an explicit target that cannot be opened stops the start."""

import os
import socket
import subprocess
import threading
import time

import raven as rv

ROLES = ("parent", "smtp", "queue", "local")


def send_one(raven, token):
    return rv.sendmail(raven.port, "sender@remote.test", ["alice@example.org"],
                       rv.make_message(token))


def test_log_file_gets_every_role(factory, tmp_path):
    path = str(tmp_path / "raven-mail.log")
    raven = factory(start=False, extra=['log file "%s"' % path])
    raven.start()
    token = rv.unique("logfile")
    qid = send_one(raven, token)
    raven.wait_for("alice", token)

    def logged():
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        return text if "event=removed id=%s" % qid in text else None
    text = rv.wait_until(logged, rv.DELIVERY_TIMEOUT, what="the message's life in the log file")
    for role in ROLES:
        assert " %s[" % role in text, "no line from %s in %s" % (role, path)
    for event in ("connect", "committed", "delivered", "removed"):
        assert "event=%s" % event in text, event
    # the file replaces stderr
    assert "event=committed" not in raven.log_text()
    assert os.stat(path).st_mode & 0o777 == 0o640


def test_syslog_socket(factory, tmp_path):
    path = str(tmp_path / "dev-log")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(0.2)
    got, stop = [], threading.Event()

    def drain():  # a syslogd: reads all the time
        while not stop.is_set():
            try:
                got.append(server.recv(8192).decode("utf-8", "replace"))
            except socket.timeout:
                pass
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        raven = factory(start=False, extra=['log syslog "%s"' % path])
        raven.start()
        qid = send_one(raven, rv.unique("syslog"))
        rv.wait_until(lambda: any("event=removed id=%s" % qid in g for g in got),
                      rv.DELIVERY_TIMEOUT, what="the message's removal in syslog")
    finally:
        stop.set()
        reader.join(2)
        server.close()
    assert any("event=removed id=%s" % qid in g for g in got), got[-5:]
    for role in ROLES:
        assert any(" raven/%s[" % role in g for g in got), "no datagram from %s" % role
    info = [g for g in got if ": info: event=" in g]
    assert info and all(g.startswith("<22>") for g in info), info[:3]  # mail.info
    assert not any(g.endswith("\n") for g in got)


def test_unreachable_syslog_stops_the_start(factory, tmp_path):
    missing = str(tmp_path / "no-such-socket")
    raven = factory(start=False, extra=['log syslog "%s"' % missing])
    p = subprocess.run([rv.RAVEND, "-n", "-c", raven.conf], capture_output=True, text=True,
                       timeout=20)
    assert p.returncode == 0, p.stderr  # -n checks the text, opens nothing
    p = subprocess.run([rv.RAVEND, "-d", "-c", raven.conf], capture_output=True, text=True,
                       timeout=20, stdin=subprocess.DEVNULL, cwd=raven.root)
    assert p.returncode == 1, p
    assert "log syslog %s: No such file or directory" % missing in p.stderr, p.stderr


def test_syslogd_that_stops_reading_stalls_nothing(factory, tmp_path):
    """Nobody reads the socket: once its queue is full each line waits at most
    100 ms, then goes to stderr; mail is still accepted and delivered."""
    path = str(tmp_path / "dev-log")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    try:
        raven = factory(start=False, extra=['log syslog "%s"' % path])
        raven.start()
        t0 = time.monotonic()
        token = rv.unique("deaf-syslog")
        qid = send_one(raven, token)
        assert time.monotonic() - t0 < 10
        raven.wait_for("alice", token)
        rv.wait_log(raven, "committed", id=qid)  # in stderr, where lines fell back
    finally:
        server.close()
