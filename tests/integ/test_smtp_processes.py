"""limits smtp-processes N: N smtp processes share each listener (one
SO_REUSEPORT group), the kernel handing every connection from one client
address to the same process, so per-address limits hold whole; limits
connections is shared out among them; one dying leaves the others serving;
the number is fixed until a restart."""

import os
import re
import signal
import smtplib
import socket
import subprocess

import raven as rv

RAVENCTL = os.environ.get("RAVENCTL", str(rv.REPO / "build" / "src" / "ctl" / "ravenctl"))
SOURCES = ["127.0.0.%d" % i for i in range(2, 8)]


def start(factory, n, **opts):
    r = factory(extra=["limits smtp-processes %d" % n], **opts)
    pids = r.settled_roles(want=("raven-smtp",))["raven-smtp"]
    rv.wait_until(lambda: len(r.roles().get("raven-smtp", [])) == n, 10,
                  what="%d smtp processes" % n)
    return r


def greet_from(port, src):
    """A connection from src, and its first reply line."""
    s = socket.socket()
    s.settimeout(10)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s, s.recv(512).decode(errors="replace")


def served_by(r):
    """{client address: {smtp pids}} from the connect lines in the log."""
    out = {}
    for line in r.log_text().splitlines():
        m = re.search(r"smtp\[(\d+)\].*event=connect .*client=(\S+)", line)
        if m:
            out.setdefault(m.group(2), set()).add(int(m.group(1)))
    return out


def send_from(port, src, token):
    with rv.RawSMTP(port, source=src) as s:
        assert s.greeting().code == 220
        assert s.cmd("EHLO client.test").code == 250
        assert s.cmd("MAIL FROM:<sender@remote.test>").code == 250
        assert s.cmd("RCPT TO:<alice@example.org>").code == 250
        assert s.cmd("DATA").code == 354
        s.send(rv.dot_stuff_crlf(rv.make_message(token)) + b".\r\n")
        reply = s.reply()
        assert reply.code == 250, reply
        s.cmd("QUIT")


def test_connections_spread_by_address_and_mail_flows(factory):
    r = start(factory, 3, per_ip=4, connections=60)
    smtp = set(r.roles()["raven-smtp"])
    held = []
    for src in SOURCES:
        for _ in range(2):
            s, greeting = greet_from(r.port, src)
            assert greeting.startswith("220"), greeting
            held.append(s)
    by = served_by(r)
    for src in SOURCES:
        # every connection from one address in one process
        assert len(by[src]) == 1 and by[src] <= smtp, (src, by, smtp)
    # and the six addresses spread over all three processes
    assert set().union(*(by[src] for src in SOURCES)) == smtp, (by, smtp)
    tokens = [rv.unique("proc") for _ in SOURCES]
    for src, token in zip(SOURCES, tokens):
        send_from(r.port, src, token)
    for token in tokens:
        r.wait_for("alice", token)
    for s in held:
        s.close()


def test_per_address_limit_holds_across_processes(factory):
    r = start(factory, 3, per_ip=2, connections=60)
    for src in SOURCES[:3]:
        held = [greet_from(r.port, src) for _ in range(3)]
        replies = [g for _, g in held]
        assert [g[:3] for g in replies] == ["220", "220", "421"], (src, replies)
        assert "4.7.0" in replies[2] and "from your address" in replies[2], replies[2]
        for s, _ in held:
            s.close()


def test_connection_limit_is_shared_out(factory):
    # 4 connections over 2 processes: 2 each; one address reaches one process.
    r = start(factory, 2, per_ip=10, connections=4)
    held = [greet_from(r.port, SOURCES[0]) for _ in range(3)]
    assert [g[:3] for _, g in held] == ["220", "220", "421"], held
    assert "Too many connections" in held[2][1], held[2][1]
    for s, _ in held:
        s.close()


def test_one_process_dying_leaves_the_others_serving(factory):
    r = start(factory, 2, per_ip=10, connections=60)
    # find an address served by each process
    owner = {}
    for src in SOURCES:
        s, g = greet_from(r.port, src)
        assert g.startswith("220"), g
        s.close()
    for src, pids in served_by(r).items():
        owner[src] = next(iter(pids))
    victim = owner[SOURCES[0]]
    other = next(src for src in SOURCES if owner[src] != victim)
    os.kill(victim, signal.SIGKILL)
    # the other process's clients are served meanwhile and after
    token = rv.unique("survivor")
    send_from(r.port, other, token)
    r.wait_for("alice", token)
    # the dead one is started again and its addresses are served
    rv.wait_until(lambda: len(r.roles().get("raven-smtp", [])) == 2 and
                  victim not in r.roles()["raven-smtp"], 10, what="a new smtp process")
    token2 = rv.unique("restarted")
    rv.wait_until(lambda: probe_ok(r.port, SOURCES[0]), 10, what="the restarted process")
    send_from(r.port, SOURCES[0], token2)
    r.wait_for("alice", token2)


def probe_ok(port, src):
    try:
        s, g = greet_from(port, src)
        s.close()
        return g.startswith("220")
    except OSError:
        return False


def test_reload_keeps_the_groups_and_refuses_a_new_count(factory):
    r = start(factory, 2, per_ip=10, connections=60)
    old = set(r.roles()["raven-smtp"])
    p = subprocess.run([RAVENCTL, "-c", r.conf, "reload"], capture_output=True, timeout=30,
                       cwd=r.root)
    assert p.returncode == 0, (p.stderr, r.log_tail())
    rv.wait_until(lambda: len(set(r.roles().get("raven-smtp", [])) - old) == 2, 10,
                  what="two new smtp processes")
    token = rv.unique("after-reload")
    for src in SOURCES[:2]:
        send_from(r.port, src, token + src)
        r.wait_for("alice", token + src)
    r.write_config(extra=["limits smtp-processes 3"])
    p = subprocess.run([RAVENCTL, "-c", r.conf, "reload"], capture_output=True, timeout=30,
                       cwd=r.root)
    assert p.returncode == 1
    assert b"needs a restart" in p.stderr and b"smtp-processes" in p.stderr, p.stderr


def test_descriptor_check_counts_each_process_share(factory):
    """100,000 connections over 8 processes need 12,756 descriptors each:
    ravend -n accepts that under a limit of 20,000, and refuses it for one
    process."""
    def limit(n):
        def preexec():
            import resource
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
        return preexec
    r = factory(start=False, connections=100000, per_ip=100000,
                extra=["limits smtp-processes 8"])
    p = subprocess.run([rv.RAVEND, "-n", "-c", r.conf], capture_output=True, text=True,
                       timeout=20, preexec_fn=limit(20000))
    assert p.returncode == 0, p.stderr
    r.write_config(extra=["limits smtp-processes 1"])
    p = subprocess.run([rv.RAVEND, "-n", "-c", r.conf], capture_output=True, text=True,
                       timeout=20, preexec_fn=limit(20000))
    assert p.returncode == 1
    assert "needs at least 100256 descriptors but the limit is 20000" in p.stderr, p.stderr


def test_ipv6_clients_are_steered_too(factory):
    port6 = rv.free_port()
    r = factory(extra=['listen on "::1" port %d' % port6, "limits smtp-processes 2"],
                per_ip=10, connections=60)
    rv.wait_until(lambda: len(r.roles().get("raven-smtp", [])) == 2, 10,
                  what="2 smtp processes")
    held = []
    for _ in range(4):
        s = socket.socket(socket.AF_INET6)
        s.settimeout(10)
        s.connect(("::1", port6))
        assert s.recv(512).startswith(b"220")
        held.append(s)
    by = served_by(r)
    assert len(by.get("::1", ())) == 1, by
    token = rv.unique("v6")
    with smtplib.SMTP("::1", port6, local_hostname="client.test", timeout=20) as c:
        c.sendmail("sender@remote.test", ["alice@example.org"],
                   rv.make_message(token).replace("\n", "\r\n").encode())
    r.wait_for("alice", token)
    for s in held:
        s.close()
