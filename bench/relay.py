#!/usr/bin/python3
"""Relay benchmark: Raven and a private Postfix relaying to smtp-sink.

Both servers relay every message (one recipient at relay.test, 1 KB) to the
same Postfix smtp-sink on loopback (one port; the sink is started afresh for
each run, so every run begins with an empty count), configured the same way: a
smarthost (Raven: `action relay host "127.0.0.1" port N`, Postfix:
`relayhost = [127.0.0.1]:N`), no TLS, default concurrency and connection
reuse. Two scenarios, RUNS interleaved runs per server, medians:

  drain  N messages are queued while the sink is down (the first
         deliveries fail to connect, the destination is marked down and
         the rest wait); then the sink is started and the server told to
         deliver now (ravenctl flush / postqueue -f, both of which also
         retry destinations marked down). Measured: from that command until
         the sink has every message and the server's queue is empty.
  e2e    with the sink up, smtp-source sends M messages over 20 sessions;
         measured: from the first connection until the sink has all M
         (the accept rate is reported beside it).

CPU per relayed message is the user+system time of the server's whole
process tree (live processes and the ones they reaped) during the measured
interval, divided by the messages. The sink counts every message it
accepts (smtp-sink -c); a run fails on any smtp-source error, on a message
missing after the deadline, and on a duplicate.

Invoked by bench/run.sh (`make bench`); writes bench/relay.md.
"""

import argparse
import datetime
import json
import os
import pwd
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (Raven, Postfix, settle, machine facts)

postfix_dist = bench.postfix_dist
SMTP_SINK = postfix_dist.path("usr/sbin/smtp-sink")
RCPT = "user@relay.test"
SESSIONS = 20
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Sink:
    """smtp-sink on 127.0.0.1:port, counting the messages it accepts."""

    def __init__(self, port):
        self.port = port
        self.proc = None
        self.count = 0
        self._thread = None

    def start(self):
        self.count = 0
        self.proc = subprocess.Popen(
            [SMTP_SINK, "-c", "-u", "postfix", "127.0.0.1:%d" % self.port, "1024"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=postfix_dist.env())
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not bench.port_answers(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("smtp-sink did not start on port %d" % self.port)
            time.sleep(0.05)

    def _read(self):
        # "sess=N quit=N mesg=N\r" after every event
        pat = re.compile(rb"mesg=(\d+)")
        tail = b""
        while True:
            chunk = self.proc.stdout.read1(65536)
            if not chunk:
                return
            tail = (tail + chunk)[-256:]
            found = pat.findall(tail)
            if found:
                self.count = int(found[-1])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


def tree_cpu(root_pid):
    """CPU seconds of root_pid and every descendant, including the children
    each of them reaped (cutime/cstime)."""
    children = {}
    stats = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                text = f.read()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        pid, ppid = int(name), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        stats[pid] = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        total += stats.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total / CLK_TCK


class RavenRelay(bench.Raven):
    def __init__(self, ravend, root, port, sink_port):
        super().__init__(ravend, root, port)
        self.sink_port = sink_port
        self.conf = os.path.join(self.root, "raven.conf")

    def start(self):
        var = os.path.join(self.root, "var")
        if not os.path.exists(var):
            os.makedirs(var)
            os.chmod(self.root, 0o755)
            os.chmod(var, 0o755)
        with open(self.conf, "w") as f:
            f.write(
                f'hostname "bench.test"\n'
                f'data "{var}"\n'
                f"listen on 127.0.0.1 port {self.port}\n"
                f"limits message-size 10M recipients 1000 connections 2000 per-ip 2000\n"
                f'action "out" relay host "127.0.0.1" port {self.sink_port}\n'
                f'match from local for any action "out"\n'
            )
        self.logf = open(os.path.join(self.root, "ravend.log"), "a")
        self.proc = subprocess.Popen([self.ravend, "-c", self.conf, "-d"], cwd=self.root,
                                     stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not bench.port_answers(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("ravend did not start; see %s" % self.logs())
            time.sleep(0.05)

    def ctl(self, *args):
        return subprocess.run([self.ravenctl(), "-c", self.conf, *args],
                              capture_output=True, text=True)

    def ravenctl(self):
        return os.path.join(os.path.dirname(os.path.dirname(self.ravend)), "ctl", "ravenctl")

    def pid(self):
        return self.proc.pid

    def queue_size(self):
        r = self.ctl("--json", "stats")
        if r.returncode != 0:
            return None
        return json.loads(r.stdout)["messages"]

    def deliver_now(self):
        deadline = time.monotonic() + 30
        while self.ctl("flush").returncode != 0:  # the queue may still be recovering
            if time.monotonic() > deadline:
                raise RuntimeError("ravenctl flush failed; see %s" % self.logs())
            time.sleep(0.02)


class PostfixRelay(bench.Postfix):
    def __init__(self, root, port, uid, gid, sink_port):
        super().__init__(root, port, uid, gid)
        self.sink_port = sink_port
        self.conf = os.path.join(self.root, "conf")

    def postconf(self, *settings):
        subprocess.run([postfix_dist.path("usr/sbin/postconf"), "-c", self.conf, "-e", *settings],
                       check=True, env=postfix_dist.env())

    def start(self):
        if not self.started and not os.path.exists(self.root):
            os.makedirs(self.root)
            os.chmod(self.root, 0o755)
            self._sh("setup", self.root, str(self.port), str(self.uid), str(self.gid))
            self.postconf("relayhost = [127.0.0.1]:%d" % self.sink_port,
                          "smtp_tls_security_level = none",
                          "virtual_mailbox_domains =")
        self.started = True
        self._sh("start", self.root)

    def pid(self):
        with open(os.path.join(self.root, "spool", "pid", "master.pid")) as f:
            return int(f.read().split()[0])

    def queue_size(self):
        n = 0
        for q in ("maildrop", "incoming", "active", "deferred", "hold"):
            for _, _, files in os.walk(os.path.join(self.root, "spool", q)):
                n += len(files)
        return n

    def deliver_now(self):
        subprocess.run([postfix_dist.path("usr/sbin/postqueue"), "-c", self.conf, "-f"],
                       check=True, env=postfix_dist.env())


def source(server, msgs, sessions=SESSIONS):
    cmd = [bench.SMTP_SOURCE, "-s", str(sessions), "-m", str(msgs), "-l", str(bench.MSG_LEN),
           "-f", bench.SENDER, "-t", RCPT, "-M", "client.test", "127.0.0.1:%d" % server.port]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=postfix_dist.env())
    if r.returncode != 0 or r.stderr.strip():
        raise RuntimeError("%s: smtp-source failed (exit %d): %s; logs: %s"
                           % (server.name, r.returncode, r.stderr.strip()[:500], server.logs()))


def wait_for(pred, timeout, what, server):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise RuntimeError("%s: %s within %.0f s; logs: %s" % (server.name, what, timeout,
                                                                   server.logs()))
        time.sleep(0.01)


def delivered_exactly(server, sink, want):
    """Every message at the sink, the server's queue empty, no duplicate."""
    wait_for(lambda: server.queue_size() == 0, 60, "queue not empty", server)
    time.sleep(0.5)
    if sink.count != want:
        raise RuntimeError("%s: the sink got %d messages for %d" % (server.name, sink.count, want))


def run_drain(server, sink, n):
    sink.stop()
    server.start()
    source(server, n)
    wait_for(lambda: server.queue_size() == n, 120, "not all %d queued" % n, server)
    bench.settle()
    sink.start()
    t0 = time.monotonic()
    cpu0 = tree_cpu(server.pid())
    server.deliver_now()
    wait_for(lambda: sink.count >= n, 600, "the sink did not get %d messages" % n, server)
    t1 = time.monotonic()
    cpu = tree_cpu(server.pid()) - cpu0
    delivered_exactly(server, sink, n)
    return {"rate": n / (t1 - t0), "cpu_ms": 1000 * cpu / n}


def run_e2e(server, sink, m):
    bench.settle()
    start_count = sink.count
    cpu0 = tree_cpu(server.pid())
    t0 = time.monotonic()
    source(server, m)
    t_acc = time.monotonic()
    wait_for(lambda: sink.count - start_count >= m, 600, "the sink did not get %d" % m, server)
    t1 = time.monotonic()
    cpu = tree_cpu(server.pid()) - cpu0
    delivered_exactly(server, sink, start_count + m)
    return {"rate": m / (t1 - t0), "accept": m / (t_acc - t0), "cpu_ms": 1000 * cpu / m}


def fmt(x):
    return "%s" % ("{:,.0f}".format(x) if x >= 100 else "{:,.2f}".format(x))


def write(path, args, facts, versions, res, started):
    med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in res.items()}
    lines = ["# Relay benchmark: Raven and Postfix relaying to smtp-sink\n",
             "Generated by `make bench` (bench/relay.py) on %s UTC; Raven %s, Postfix %s. "
             "Both relay to the same Postfix `smtp-sink` on loopback (one run at a time) through a smarthost "
             "setting, no TLS, default concurrency; 1 KB messages, one recipient; "
             "median of %d interleaved runs. CPU is the server's whole process tree.\n"
             % (started, versions["Raven"], versions["Postfix"], args.runs),
             "| scenario | Raven msg/s | Postfix msg/s | Raven / Postfix | Raven CPU ms/msg "
             "| Postfix CPU ms/msg | CPU ratio |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for sc, label in (("drain", "drain %d queued messages" % args.drain),
                      ("e2e", "accept at %d sessions and relay (%d msgs)" % (SESSIONS, args.e2e))):
        r, p = med[("Raven", sc)], med[("Postfix", sc)]
        lines.append("| %s | %s | %s | %.2f | %.3f | %.3f | %.2f |"
                     % (label, fmt(r["rate"]), fmt(p["rate"]), r["rate"] / p["rate"],
                        r["cpu_ms"], p["cpu_ms"], r["cpu_ms"] / p["cpu_ms"]))
    r, p = med[("Raven", "e2e")], med[("Postfix", "e2e")]
    lines.append("\nAccept rate during the e2e runs: Raven %s msg/s, Postfix %s msg/s.\n"
                 % (fmt(r["accept"]), fmt(p["accept"])))
    lines.append("Every run:\n")
    for k in sorted(res):
        lines.append("- %s %s: %s" % (k[0], k[1], ", ".join(
            "%s msg/s %s ms CPU" % (fmt(x["rate"]), "%.3f" % x["cpu_ms"]) for x in res[k])))
    lines.append("\nMachine: " + ", ".join("%s %s" % kv for kv in facts.items()) + ".\n")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ravend", default=os.path.join(bench.REPO, "build", "src", "parent", "ravend"))
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")))
    ap.add_argument("--drain", type=int, default=int(os.environ.get("BENCH_RELAY_DRAIN", "10000")))
    ap.add_argument("--e2e", type=int, default=int(os.environ.get("BENCH_RELAY_E2E", "5000")))
    ap.add_argument("--tmp", default=os.environ.get("BENCH_TMP", "/tmp"))
    ap.add_argument("--out", default=os.path.join(HERE, "relay.md"))
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    a.ravend = os.path.realpath(a.ravend)
    pw = pwd.getpwnam("raven")
    tmp = tempfile.mkdtemp(prefix="raven-relay-bench-", dir=a.tmp)
    os.chmod(tmp, 0o755)
    started = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")
    sink = Sink(40045)  # the one sink both relay to, one run at a time
    servers = {"Raven": RavenRelay(a.ravend, tmp, 40043, sink.port),
               "Postfix": PostfixRelay(tmp, 40044, pw.pw_uid, pw.pw_gid, sink.port)}
    res = {}
    versions = {}
    try:
        for i in range(a.runs):
            order = ["Raven", "Postfix"] if i % 2 == 0 else ["Postfix", "Raven"]
            for name in order:
                srv = servers[name]
                bench.log("relay run %d/%d: %s drain %d" % (i + 1, a.runs, name, a.drain))
                res.setdefault((name, "drain"), []).append(run_drain(srv, sink, a.drain))
                bench.log("  %.0f msg/s, %.3f ms CPU/msg" % (res[(name, "drain")][-1]["rate"],
                                                             res[(name, "drain")][-1]["cpu_ms"]))
                res.setdefault((name, "e2e"), []).append(run_e2e(srv, sink, a.e2e))
                bench.log("  e2e %.0f msg/s, %.3f ms CPU/msg" % (res[(name, "e2e")][-1]["rate"],
                                                                 res[(name, "e2e")][-1]["cpu_ms"]))
                versions.setdefault(name, srv.version())
                srv.stop()
                sink.stop()
    finally:
        for name in servers:
            servers[name].stop()
        sink.stop()
        if not a.keep:
            subprocess.run(["rm", "-rf", tmp])
    write(a.out, a, bench.machine_facts(a.tmp), versions, res, started)
    bench.log("wrote " + a.out)


if __name__ == "__main__":
    main()
