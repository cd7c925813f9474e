"""Process model: named role children of one parent, restarted when they die,
privileges dropped when started as root."""

import os
import pwd
import re
import signal
import subprocess
import time

import pytest

import raven as rv

ROLES = ("raven-smtp", "raven-queue", "raven-local")


def send_one(port, token, rcpt="alice@example.org"):
    rr, final = rv.send_raw(port, "sender@remote.test", [rcpt],
                            rv.dot_stuff_crlf(rv.make_message(token, to=rcpt)))
    assert [r.code for r in rr] == [250], rr
    assert final.code == 250, final
    return rv.queue_id("250 " + final.text)


def wait_accepting(port, what):
    """Until a new connection gets the 220 greeting (a role restarted)."""
    def accepts():
        try:
            with rv.RawSMTP(port, timeout=2) as s:
                return s.greeting().code == 220
        except (OSError, rv.Closed):
            return False
    rv.wait_until(accepts, 10, interval=0.1, what=what)


def test_roles_and_pid_file(raven):
    roles = raven.roles()
    for name in ROLES:
        assert len(roles.get(name, [])) == 1, "want one %s child of %d, have %s" % (
            name, raven.pid, roles)
    with open(os.path.join(raven.data, "run", "ravend.pid")) as f:
        assert int(f.read().strip()) == raven.pid
    assert rv.proc_stat(raven.pid)[0] not in ROLES


def test_sigterm_stops_everything(raven):
    pids = [raven.pid] + rv.descendants(raven.pid)
    rc = raven.stop()
    assert rc == 0, "ravend exited with %s on SIGTERM" % rc
    assert not [p for p in pids if rv.alive(p)], "processes left after SIGTERM"


def test_smtp_role_restarted(raven):
    before = rv.unique("before-smtp-kill")
    send_one(raven.port, before)
    old = raven.role_pid("raven-smtp")
    os.kill(old, signal.SIGKILL)
    new = raven.role_pid("raven-smtp", exclude=(old,))
    assert new != old
    assert rv.proc_stat(new)[2] == raven.pid
    wait_accepting(raven.port, "sessions after raven-smtp restart")
    after = rv.unique("after-smtp-kill")
    send_one(raven.port, after)
    raven.wait_for("alice", before)
    raven.wait_for("alice", after)
    assert raven.proc.poll() is None
    # The restarted role does not reuse session ids already in the log.
    ids = re.findall(r"event=connect session=(\S+)", raven.log_text())
    assert len(ids) >= 3 and len(ids) == len(set(ids)), ids


def test_session_in_progress_survives_other_sessions(raven):
    """One slow session does not block others (one event loop, no blocking)."""
    slow = rv.session(raven.port)
    try:
        assert slow.cmd("MAIL FROM:<slow@remote.test>").code == 250
        assert slow.cmd("RCPT TO:<bob@example.org>").code == 250
        assert slow.cmd("DATA").code == 354
        slow.send(b"Subject: slow\r\n\r\npartial line")
        token = rv.unique("fast")
        send_one(raven.port, token)
        raven.wait_for("alice", token)
    finally:
        slow.close()


def test_queue_role_restarted_mail_kept(raven):
    local = raven.role_pid("raven-local")
    os.kill(local, signal.SIGSTOP)
    try:
        token = rv.unique("queue-kill")
        send_one(raven.port, token)
        old = raven.role_pid("raven-queue")
        os.kill(old, signal.SIGKILL)
        new = raven.role_pid("raven-queue", exclude=(old,))
        assert new != old and rv.proc_stat(new)[2] == raven.pid
    finally:
        if rv.alive(local):
            os.kill(local, signal.SIGCONT)
    raven.wait_for("alice", token)
    raven.wait_queue_empty()
    time.sleep(0.3)
    assert len(raven.find("alice", token)) == 1
    after = rv.unique("after-queue-kill")
    send_one(raven.port, after)
    raven.wait_for("alice", after)


def test_queue_death_tells_clients_to_come_back(raven):
    """Sessions open when the queue dies get 421 4.3.0 at once (not a
    silent close or a timeout), whatever state they are in, and mail sent
    after the restart is accepted."""
    idle = rv.session(raven.port)
    mid = rv.session(raven.port)
    data = rv.session(raven.port)
    try:
        assert mid.cmd("MAIL FROM:<a@remote.test>").code == 250
        assert mid.cmd("RCPT TO:<alice@example.org>").code == 250
        assert data.cmd("MAIL FROM:<b@remote.test>").code == 250
        assert data.cmd("RCPT TO:<bob@example.org>").code == 250
        assert data.cmd("DATA").code == 354
        data.send(b"Subject: cut\r\n\r\nhalf a message")
        old = raven.role_pid("raven-queue")
        os.kill(old, signal.SIGKILL)
        for s in (idle, mid, data):
            s.sock.settimeout(5)
            r = s.reply()
            assert (r.code, r.enh) == (421, "4.3.0"), r
            assert s.is_closed(), "connection left open after 421"
    finally:
        for s in (idle, mid, data):
            s.close()
    raven.role_pid("raven-queue", exclude=(old,))
    wait_accepting(raven.port, "sessions after raven-queue restart")
    token = rv.unique("after-queue-death")
    send_one(raven.port, token)
    raven.wait_for("alice", token)
    raven.assert_not_delivered("half a message")


def test_local_role_restarted(raven):
    old = raven.role_pid("raven-local")
    os.kill(old, signal.SIGKILL)
    raven.role_pid("raven-local", exclude=(old,))
    token = rv.unique("after-local-kill")
    send_one(raven.port, token)
    raven.wait_for("alice", token)


def _socket_inodes(pid):
    out = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if t.startswith("socket:["):
            out.add(int(t[8:-1]))
    return out


def _unix_peers():
    """{socket inode: peer inode} for connected unix sockets (ss -xp)."""
    out = {}
    p = subprocess.run(["ss", "-xaH"], capture_output=True, text=True)
    for line in p.stdout.splitlines():
        f = line.split()
        # Netid State Recv-Q Send-Q Local Port Peer Port
        try:
            out[int(f[5])] = int(f[7])
        except (IndexError, ValueError):
            continue
    return out


@pytest.mark.skipif(os.geteuid() != 0, reason="privilege drop needs the suite to run as root")
def test_privileges_dropped_as_root(raven):
    user = rv.run_user()
    if user != "raven":
        print("note: system user 'raven' is missing; the test config uses %r instead" % user)
    pw = pwd.getpwnam(user)
    net = pwd.getpwnam(rv.run_net_user())
    assert pw.pw_uid != 0 and net.pw_uid not in (0, pw.pw_uid)
    # the queue owns the spool; the network-facing role is another account
    for name, want in (("raven-queue", pw), ("raven-local", pw), ("raven-smtp", net)):
        ids = rv.proc_ids(raven.role_pid(name))
        assert ids["uid"] == (want.pw_uid,) * 4, "%s runs with uids %s, want %d" % (
            name, ids["uid"], want.pw_uid)
        assert 0 not in ids["gid"], "%s keeps gid 0: %s" % (name, ids["gid"])
    token = rv.unique("owner")
    send_one(raven.port, token)
    raven.wait_for("alice", token)
    for p in raven.mail_files("alice"):
        st = os.stat(p)
        assert st.st_uid == pw.pw_uid, "%s owned by uid %d, want %d" % (p, st.st_uid, pw.pw_uid)
    for sub in ("env", "data"):
        d = os.path.join(raven.queue, sub)
        if os.path.isdir(d):
            assert os.stat(d).st_uid == pw.pw_uid, "%s owned by uid %d" % (d, os.stat(d).st_uid)
    # the network-facing role is jailed in an empty, root-owned directory
    smtp = raven.role_pid("raven-smtp")
    jail = os.readlink("/proc/%d/root" % smtp)
    assert jail == os.path.join(raven.data, "empty"), jail
    assert os.stat(jail).st_uid == 0 and os.listdir(jail) == []
    # the queue is jailed in the spool, local delivery in none
    assert os.readlink("/proc/%d/root" % raven.role_pid("raven-queue")) == raven.queue
    assert os.readlink("/proc/%d/root" % raven.role_pid("raven-local")) == "/"
    # the data directory itself is root's: roles cannot swap its subdirectories
    assert os.stat(raven.data).st_uid == 0
    # no role holds a channel it was not given: smtp's sockets are its
    # listeners, its queue channel and its clients, none to raven-local
    local = raven.role_pid("raven-local")
    local_inodes = _socket_inodes(local)
    peers = _unix_peers()
    for ino in _socket_inodes(smtp):
        assert peers.get(ino) not in local_inodes, "raven-smtp holds a socket to raven-local"
    # local delivery keeps no supplementary group
    with open("/proc/%d/status" % local) as f:
        groups = [l.split()[1:] for l in f if l.startswith("Groups:")][0]
    assert groups == [], groups


def _check_unprivileged_run(raven, uid):
    for name in ROLES:
        ids = rv.proc_ids(raven.role_pid(name))
        assert ids["uid"] == (uid,) * 4, (name, ids)
    token = rv.unique("unpriv")
    send_one(raven.port, token)
    raven.wait_for("alice", token)
    for p in raven.mail_files("alice"):
        assert os.stat(p).st_uid == uid


@pytest.mark.skipif(os.geteuid() == 0, reason="runs when the suite is unprivileged")
def test_runs_unprivileged(raven):
    _check_unprivileged_run(raven, os.geteuid())


@pytest.mark.skipif(os.geteuid() != 0, reason="starting the daemon as another user needs root")
def test_runs_unprivileged_started_by_root(factory):
    """As root, start ravend as a plain user: everything works with no privilege change."""
    user = rv.run_user()
    pw = pwd.getpwnam(user)
    raven = factory(start=False)
    for dirpath, dirs, files in os.walk(raven.root):
        for n in dirs + files + [""]:
            os.chown(os.path.join(dirpath, n), pw.pw_uid, pw.pw_gid)
    exe = rv.RAVEND
    probe = os.path.dirname(exe)
    while probe != "/":
        if not os.stat(probe).st_mode & 0o001:
            pytest.skip("%s is not searchable by %s" % (probe, user))
        probe = os.path.dirname(probe)
    raven.popen_kw = dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
    raven.start()
    _check_unprivileged_run(raven, pw.pw_uid)


def test_smtp_killed_mid_data_discards_message(raven):
    token = rv.unique("smtp-died")
    s = rv.session(raven.port)
    try:
        assert s.cmd("MAIL FROM:<s@remote.test>").code == 250
        assert s.cmd("RCPT TO:<alice@example.org>").code == 250
        assert s.cmd("DATA").code == 354
        s.send(("Message-ID: <%s@test>\r\n\r\n" % token).encode() + b"partial\r\n" * 1000)
        rv.wait_until(lambda: raven.queue_files("data"), 5, what="a spool data file")
        old = raven.role_pid("raven-smtp")
        os.kill(old, signal.SIGKILL)
        raven.role_pid("raven-smtp", exclude=(old,))
        rv.wait_until(lambda: not raven.queue_files("data"), 5,
                      what="the dead session's spool file to be discarded (%s)"
                      % raven.queue_files("data"))
        assert s.is_closed()
    finally:
        s.close()
    raven.assert_not_delivered(token, users=["alice"], settle=0.3)


def test_parent_killed_children_exit(raven):
    kids = rv.descendants(raven.pid)
    assert len(kids) >= 3
    os.kill(raven.pid, signal.SIGKILL)
    raven.proc.wait()
    try:
        rv.wait_until(lambda: not [k for k in kids if rv.alive(k)], 5,
                      what="role processes to exit after the parent died")
    finally:
        raven.wait_gone(1)
    # the port is free again: a new instance starts on it
    raven.start()
    token = rv.unique("after-parent-kill")
    send_one(raven.port, token)
    raven.wait_for("alice", token)


def test_without_d_detaches_and_serves(factory):
    """Without -d ravend detaches after binding (the command returns 0), keeps
    serving, writes its pid file, and stops on SIGTERM by that pid."""
    raven = factory(start=False)
    log = open(os.path.join(raven.root, "detached.log"), "ab")
    p = subprocess.run([rv.RAVEND, "-c", raven.conf], stdin=subprocess.DEVNULL, stdout=log,
                       stderr=log, timeout=20)
    assert p.returncode == 0
    pidfile = os.path.join(raven.data, "run", "ravend.pid")
    pid = rv.wait_until(lambda: os.path.exists(pidfile) and int(open(pidfile).read()),
                        rv.START_TIMEOUT, what="the pid file")
    try:
        assert rv.alive(pid)
        assert rv.proc_stat(pid)[2] != os.getpid()  # reparented: not our child
        token = rv.unique("detached")
        send_one(raven.port, token)  # bound before detaching: the kernel queues us
        raven.wait_for("alice", token)
    finally:
        os.kill(pid, signal.SIGTERM)
        rv.wait_until(lambda: not rv.alive(pid), 15, what="the detached daemon to stop")
    assert not os.path.exists(pidfile)


def _status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)


def _exe_base(pid):
    """Start address of the ravend executable's first mapping in pid."""
    exe = os.readlink("/proc/%d/exe" % pid)
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            if line.rstrip().endswith(exe):
                return int(line.split("-")[0], 16)
    raise AssertionError("no mapping of %s in %d" % (exe, pid))


def test_roles_confined(raven):
    """Each role is executed afresh (its own address-space layout), cannot be
    dumped or traced by its own uid, the network role runs under a seccomp
    filter with no privileges, and local delivery keeps only the two
    capabilities it needs to switch file-system identity (as root)."""
    # A role is not dumpable: its maps are root's to read. Without root the
    # exec shows in argv (the role's own name and -R), the layout cannot.
    root = os.geteuid() == 0
    parent = _exe_base(raven.pid) if root else None
    for name in ROLES:
        pid = raven.role_pid(name)
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
        assert argv[0] == name.encode() and argv[1] == b"-R", argv
        if root:
            assert _exe_base(pid) != parent, "%s shares the parent's layout" % name
        # not dumpable: the kernel gives its /proc files to root
        assert os.stat("/proc/%d/environ" % pid).st_uid == 0, name
    smtp = _status(raven.role_pid("raven-smtp"))
    assert smtp["Seccomp"] == "2" and smtp["NoNewPrivs"] == "1", smtp
    assert int(smtp["CapEff"], 16) == 0 and int(smtp["CapPrm"], 16) == 0
    local = _status(raven.role_pid("raven-local"))
    assert local["Seccomp"] == "2", local
    if os.geteuid() == 0:
        setid = (1 << 6) | (1 << 7)  # CAP_SETGID, CAP_SETUID
        assert int(local["CapEff"], 16) == setid, local["CapEff"]
        assert int(local["CapPrm"], 16) == setid, local["CapPrm"]
        assert int(local["CapBnd"], 16) == setid, local["CapBnd"]
        assert int(local["Uid"].split()[0]) != 0
    queue = _status(raven.role_pid("raven-queue"))
    assert int(queue["CapEff"], 16) == 0


# --- roles that run only when configured -------------------------------------

# The roles every configuration runs (the test configuration has no metrics
# listeners and no SQL tables: neither raven-metrics nor raven-lookup).
ALWAYS = ROLES + ("raven-relay", "raven-auth", "raven-pickup")


def dkim_sign_line(raven):
    """A fresh key (ravenctl dkim-keygen) and its `dkim sign` statement."""
    p = subprocess.run([rv.RAVENCTL, "-c", raven.conf, "dkim-keygen", "example.org", "s1",
                        "ed25519"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return re.search(r'^dkim sign .*$', p.stdout, re.M).group(0)


def reload(raven):
    p = subprocess.run([rv.RAVENCTL, "-c", raven.conf, "reload"], capture_output=True,
                       text=True, timeout=30, cwd=raven.root)
    assert p.returncode == 0, (p.stderr, raven.log_tail())


def test_no_resolver_or_signer_without_checks_or_signing(raven):
    """The test configuration has no sender checks and no `dkim sign`: seven
    processes, neither raven-dns nor raven-dkim ever started."""
    roles = raven.settled_roles(ALWAYS)
    assert sorted(roles) == sorted(ALWAYS), roles
    assert all(len(pids) == 1 for pids in roles.values()), roles
    for role in ("dns", "dkim"):
        assert not rv.log_events(raven, "role-started", role=role), role


@pytest.mark.parametrize("checks", [
    {"spf": "tag"}, {"dmarc": "tag"}, {"dkim_verify": True}, {"dnsbl": [("bl.test", "tag")]},
], ids=["spf", "dmarc", "dkim-verify", "dnsbl"])
def test_resolver_runs_with_each_sender_check(factory, fakedns, checks):
    """Each check that asks DNS starts raven-dns; none of them starts the
    signer."""
    raven = factory(extra=rv.checks_config(fakedns.port, **checks))
    roles = raven.settled_roles(ALWAYS + ("raven-dns",))
    assert "raven-dkim" not in roles, roles
    rv.wait_log(raven, "dns-ready")


def test_signer_runs_with_dkim_sign_and_goes_at_reload(factory):
    """`dkim sign` starts raven-dkim (and no resolver: signing asks no DNS);
    a reload without it retires the signer, which is not started again, and
    relayed and local mail go on."""
    raven = factory(start=False)
    raven.write_config(extra=[dkim_sign_line(raven)])
    raven.start()
    roles = raven.settled_roles(ALWAYS + ("raven-dkim",))
    assert "raven-dns" not in roles, roles
    rv.wait_log(raven, "dkim-key-loaded", domain="example.org")
    signer = raven.role_pid("raven-dkim")
    raven.write_config(extra=[])
    reload(raven)
    raven.wait_role_ended("dkim", signer)
    token = rv.unique("after-signer")
    send_one(raven.port, token)
    raven.wait_for("alice", token)
