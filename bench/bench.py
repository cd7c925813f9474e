#!/usr/bin/python3
"""Side-by-side throughput benchmark: Raven against a private Postfix.

Both servers run on this machine at the same time, each on its own loopback
port, and are loaded in turn by the same client (Postfix's smtp-source) with
the same messages. For every (server, concurrency) there are RUNS timed runs,
interleaved (Raven, Postfix, then Postfix, Raven, ...) so that drift of the
machine affects both alike. After every run the benchmark waits until every
message has been delivered into the server's Maildir before the next run
starts, so that one server's background delivery never competes with the
other's measurement, and so that a lost or duplicated message fails the run.

Four scenarios (BENCH_SCENARIOS, default all):

- throughput: accepted and delivered msg/s at each concurrency of the plan;
- contention: the same at 1 and 20 sessions while one busy loop per core
  competes for the CPUs;
- neighbour: the same at 20 sessions while a buffered writer (a bounded dd
  loop) keeps gigabytes of dirty pages on the file system of both spools;
- latency: the end of DATA to 250 wait, p50 and p99, at 20 sessions, quiet
  and beside the neighbour, measured with bench/smtpload.c.

Invoked by bench/run.sh (`make bench`); see bench/README.md for the method.
Writes bench/results.md.
"""

import argparse
import datetime
import os
import pwd
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integ"))
import postfix_dist  # noqa: E402  (the private Postfix of scripts/deps.sh, or the system's)

SMTP_SOURCE = postfix_dist.path("usr/sbin/smtp-source")
SMTPLOAD = os.path.join(REPO, "build", "bench", "smtpload")
SENDER = "sender@client.test"
RCPT = "user@bench.test"
MSG_LEN = 1024


def log(msg):
    print("bench: " + msg, flush=True)


def port_answers(port, timeout=1.0):
    """True when something on 127.0.0.1:port sends an SMTP 220 greeting."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout) as s:
            s.settimeout(timeout)
            return s.recv(64).startswith(b"220")
    except OSError:
        return False


def port_free(port):
    try:
        with socket.create_connection(("127.0.0.1", port), 0.5):
            return False
    except OSError:
        return True


def count_dir(path):
    try:
        with os.scandir(path) as it:
            return sum(1 for _ in it)
    except FileNotFoundError:
        return 0


class Raven:
    name = "Raven"

    def __init__(self, ravend, root, port, extra=""):
        self.ravend = ravend
        self.extra = extra
        self.root = os.path.join(root, "raven")
        self.port = port
        self.proc = None
        self.logf = None
        self.maildir_new = os.path.join(self.root, "var", "mail", "user", "new")

    def start(self):
        os.makedirs(os.path.join(self.root, "var"))
        # ravend started as root drops to the user "raven", which must be able
        # to traverse the path to its data directory.
        os.chmod(self.root, 0o755)
        os.chmod(os.path.join(self.root, "var"), 0o755)
        conf = os.path.join(self.root, "raven.conf")
        var = os.path.join(self.root, "var")
        with open(conf, "w") as f:
            f.write(
                f'hostname "bench.test"\n'
                f'data "{var}"\n'
                f"listen on 127.0.0.1 port {self.port}\n"
                f'table domains {{ "bench.test" }}\n'
                f"limits message-size 10M recipients 1000 connections 2000 per-ip 2000\n"
                f'action "mailbox" maildir "{var}/mail/%{{user}}"\n'
                f'match from any for domain <domains> action "mailbox"\n'
                + "".join(line.strip() + "\n" for line in self.extra.split(";") if line.strip())
            )
        self.logf = open(os.path.join(self.root, "ravend.log"), "w")
        self.proc = subprocess.Popen(
            [self.ravend, "-c", conf, "-d"],
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=self.logf,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ravend exited with {self.proc.returncode}; see {self.root}/ravend.log")
            if port_answers(self.port):
                return
            time.sleep(0.1)
        raise RuntimeError(f"ravend did not answer on port {self.port}")

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            log(f"ravend (pid {self.proc.pid}) ignored SIGTERM; killing it")
            self.proc.kill()
            self.proc.wait()
        if self.logf:
            self.logf.close()

    def version(self):
        try:
            return subprocess.run(
                ["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                capture_output=True, text=True, check=True,
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    def logs(self):
        return os.path.join(self.root, "ravend.log")


class Postfix:
    name = "Postfix"

    def __init__(self, root, port, uid, gid):
        self.root = os.path.join(root, "postfix")
        self.port = port
        self.uid = uid
        self.gid = gid
        self.started = False
        self.maildir_new = os.path.join(self.root, "mail", "user", "new")

    def _sh(self, *args, capture=False):
        return subprocess.run(
            ["bash", os.path.join(HERE, "postfix.sh"), *args],
            check=True, capture_output=capture, text=True,
        )

    def start(self):
        os.makedirs(self.root)
        os.chmod(self.root, 0o755)
        self._sh("setup", self.root, str(self.port), str(self.uid), str(self.gid))
        self.started = True
        self._sh("start", self.root)
        if not port_answers(self.port):
            raise RuntimeError(f"postfix did not answer on port {self.port}")

    def stop(self):
        if self.started:
            self._sh("stop", self.root)
            self.started = False

    def version(self):
        return self._sh("version", self.root, capture=True).stdout.strip()

    def logs(self):
        return os.path.join(self.root, "maillog")


def io_in_flight():
    """I/Os in progress on every block device (/proc/diskstats field 12)."""
    total = 0
    try:
        with open("/proc/diskstats") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 11:
                    total += int(fields[11])
    except OSError:
        pass
    return total


def settle(timeout=15.0):
    """Start every run from the same place: flush what the previous run left
    dirty (both servers delete and write a lot) and wait until the disks are
    idle for half a second, at most timeout seconds."""
    os.sync()
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        if io_in_flight() == 0:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= 0.5:
                return
        else:
            quiet_since = None
        time.sleep(0.05)


def dirty_kb():
    """Dirty page cache of the whole machine, in kB (/proc/meminfo)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("Dirty:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class Neighbour:
    """A noisy neighbour: a buffered writer on the spools' file system, a
    loop of `dd if=/dev/zero of=FILE bs=1M count=MB conv=notrunc` (no sync:
    it only dirties pages, which the kernel writes back on its own). It is
    bounded — at most `loops` passes and `limit` seconds, after which it stops
    by itself — and stopped by the pid of its process group after each
    measured run; its file is removed at the end."""

    def __init__(self, root, mb, loops=200, limit=900):
        self.path = os.path.join(root, "neighbour.dat")
        self.mb = mb
        self.loops = loops
        self.limit = limit
        self.proc = None
        self.peak_dirty = 0

    def start(self):
        script = (
            f'end=$((SECONDS + {self.limit})); i=0; '
            f'while [ $i -lt {self.loops} ] && [ $SECONDS -lt $end ]; do '
            f'dd if=/dev/zero of="$1" bs=1M count={self.mb} conv=notrunc status=none || exit 1; '
            f'i=$((i + 1)); done'
        )
        self.proc = subprocess.Popen(["bash", "-c", script, "neighbour", self.path],
                                     start_new_session=True, stdin=subprocess.DEVNULL)
        # Let it build up dirty pages before the measurement starts.
        deadline = time.monotonic() + 15
        want = min(self.mb * 1024 // 2, 1024 * 1024)
        while time.monotonic() < deadline and dirty_kb() < want:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the neighbour (dd) exited with {self.proc.returncode}")
            time.sleep(0.1)

    def note(self):
        self.peak_dirty = max(self.peak_dirty, dirty_kb())

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            # its own process group: bash and the dd it runs, and nothing else
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def remove(self):
        self.stop()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class BusyLoops:
    """CPU contention: one busy loop per core (`bash -c 'while :; do :; done'`),
    at normal priority, in its own process group; bounded — each stops by
    itself after `limit` seconds — and stopped by the pid of its group after
    each measured run. Same interface as Neighbour."""

    def __init__(self, limit=900):
        self.limit = limit
        self.proc = None
        self.peak_dirty = 0

    def start(self):
        n = os.cpu_count() or 1
        script = (f'for i in $(seq {n}); do (end=$((SECONDS + {self.limit})); '
                  f'while [ $SECONDS -lt $end ]; do :; done) & done; wait')
        self.proc = subprocess.Popen(["bash", "-c", script], start_new_session=True,
                                     stdin=subprocess.DEVNULL)
        time.sleep(0.5)  # the loops are running before the clock starts

    def note(self):
        pass

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # bash and its loops, nothing else
            self.proc.wait()
        self.proc = None

    def remove(self):
        self.stop()


def client_cmd(client, server, sessions, msgs):
    if client == "smtpload":
        return [SMTPLOAD, "-s", str(sessions), "-m", str(msgs), "-l", str(MSG_LEN),
                "-f", SENDER, "-t", RCPT, str(server.port)]
    return [
        SMTP_SOURCE, "-s", str(sessions), "-m", str(msgs), "-l", str(MSG_LEN),
        "-f", SENDER, "-t", RCPT, "-M", "client.test",
        f"127.0.0.1:{server.port}",
    ]


def parse_smtpload(out):
    """smtpload's one line of "key value" pairs, as a dict of floats."""
    words = out.split()
    return {words[i]: float(words[i + 1]) for i in range(0, len(words) - 1, 2)}


def run_once(server, sessions, msgs, drain_floor, neighbour=None, client="smtp-source"):
    """One timed run. Returns (accept s, end-to-end s, 1-minute load average
    at the start, smtpload's figures or None). With a neighbour, it writes
    from before the run until the run's last message is delivered."""
    settle()
    if neighbour:
        neighbour.start()
    load1 = loadavg().split()[0]
    before = count_dir(server.maildir_new)
    cmd = client_cmd(client, server, sessions, msgs)
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800,
                       env=postfix_dist.env())
    t1 = time.monotonic()
    if neighbour:
        neighbour.note()
    if r.returncode != 0 or r.stderr.strip():
        if neighbour:
            neighbour.stop()
        raise RuntimeError(
            f"{server.name}: {os.path.basename(cmd[0])} -s {sessions} -m {msgs} failed "
            f"(exit {r.returncode}): {r.stderr.strip()[:500]}; logs: {server.logs()}"
        )
    figures = parse_smtpload(r.stdout) if client == "smtpload" else None
    # Every accepted message must reach the Maildir, exactly once.
    want = before + msgs
    deadline = t1 + max(drain_floor, 20 * (t1 - t0))
    n = count_dir(server.maildir_new)
    while n < want and time.monotonic() < deadline:
        time.sleep(0.02)
        n = count_dir(server.maildir_new)
    t2 = time.monotonic()
    if neighbour:
        neighbour.stop()
    if n < want:
        raise RuntimeError(
            f"{server.name}: only {n - before} of {msgs} messages delivered "
            f"within {deadline - t1:.0f}s after the run; logs: {server.logs()}"
        )
    # Let the server finish its post-delivery bookkeeping (queue file
    # removal) so that it does not spill into the next measurement, then
    # check that nothing was delivered twice.
    time.sleep(0.5)
    n = count_dir(server.maildir_new)
    if n != want:
        raise RuntimeError(f"{server.name}: {n - before} deliveries for {msgs} messages")
    return t1 - t0, t2 - t0, load1, figures


def machine_facts(tmp):
    facts = {}
    facts["nproc"] = str(os.cpu_count())
    facts["kernel"] = os.uname().release
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    facts["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            facts["memory"] = f"{kb // 1024} MiB"
    except (OSError, ValueError, IndexError):
        pass
    try:
        fs = subprocess.run(
            ["findmnt", "-n", "-o", "FSTYPE,SOURCE,OPTIONS", "-T", tmp],
            capture_output=True, text=True, check=True,
        ).stdout.split()
        facts["filesystem"] = f"{fs[0]} on {fs[1]} ({fs[2]})"
    except (OSError, subprocess.CalledProcessError, IndexError):
        facts["filesystem"] = "unknown"
    return facts


def dirty_tree():
    try:
        out = subprocess.run(
            ["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        ).stdout
        return bool(out.strip())
    except (OSError, subprocess.CalledProcessError):
        return False


def parse_plan(text):
    plan = []
    for item in text.replace(",", " ").split():
        s, m = item.split(":")
        plan.append((int(s), int(m)))
    return plan


def fmt(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def med(values):
    values = list(values)
    return statistics.median(values) if values else float("nan")


def ratio(r, p):
    return f"{r / p:.2f}" if p else "–"


def write_results(path, args, facts, versions, plan, res, started, load, peak_dirty):
    """res: {(scenario, server, sessions): [(accept s, delivered s, load, figures)]}."""
    lines = []
    lines.append("# Benchmark results: Raven and Postfix\n")
    lines.append(
        f"Generated by `make bench` (bench/run.sh) on {started} UTC. "
        "Method and fairness choices: [bench/README.md](README.md).\n"
    )
    runs = lambda sc, name, sess: res.get((sc, name, sess), [])  # noqa: E731
    if "throughput" in args.scenarios:
        lines.append("## Messages accepted per second (250 after DATA)\n")
        lines.append(
            f"{MSG_LEN}-byte messages, one recipient, a new connection per message, "
            f"median of {args.runs} interleaved runs; both servers fsync the message "
            "before answering 250.\n"
        )
        lines.append("| concurrency | messages per run | Raven msg/s | Postfix msg/s | Raven / Postfix |")
        lines.append("|---:|---:|---:|---:|---:|")
        for s, m in plan:
            r = med(m / x[0] for x in runs("throughput", "Raven", s))
            p = med(m / x[0] for x in runs("throughput", "Postfix", s))
            lines.append(f"| {s} | {m} | {fmt(r)} | {fmt(p)} | {ratio(r, p)} |")
        lines.append("")
        lines.append("## Accepted and delivered into the Maildir, per second\n")
        lines.append(
            "From the start of a run until the last message of the run is in the "
            "Maildir (polled every 20 ms).\n"
        )
        lines.append("| concurrency | Raven msg/s | Postfix msg/s | Raven / Postfix |")
        lines.append("|---:|---:|---:|---:|")
        for s, m in plan:
            r = med(m / x[1] for x in runs("throughput", "Raven", s))
            p = med(m / x[1] for x in runs("throughput", "Postfix", s))
            lines.append(f"| {s} | {fmt(r)} | {fmt(p)} | {ratio(r, p)} |")
        lines.append("")
    if "neighbour" in args.scenarios:
        m = args.neighbour_msgs
        lines.append("## Beside a noisy neighbour (20 sessions)\n")
        lines.append(
            f"The same load while a buffered writer on the spools' file system "
            f"(`dd if=/dev/zero of=FILE bs=1M count={args.neighbour_mb} conv=notrunc` in a "
            f"bounded loop, started before each run and stopped by its pid after the run's "
            f"last delivery) keeps up to {peak_dirty // 1024:,} MB of dirty pages in the "
            f"page cache; {m} messages per run, median of {args.runs}.\n"
        )
        lines.append("| | Raven msg/s | Postfix msg/s | Raven / Postfix |")
        lines.append("|---|---:|---:|---:|")
        r = med(m / x[0] for x in runs("neighbour", "Raven", 20))
        p = med(m / x[0] for x in runs("neighbour", "Postfix", 20))
        lines.append(f"| accepted | {fmt(r)} | {fmt(p)} | {ratio(r, p)} |")
        r = med(m / x[1] for x in runs("neighbour", "Raven", 20))
        p = med(m / x[1] for x in runs("neighbour", "Postfix", 20))
        lines.append(f"| accepted and delivered | {fmt(r)} | {fmt(p)} | {ratio(r, p)} |")
        lines.append("")
    if "contention" in args.scenarios:
        lines.append("## Beside CPU contention\n")
        lines.append(
            f"The same load while one busy loop per core (`while :; do :; done` in bash, "
            f"normal priority, started before each run and stopped by its pid after the "
            f"run's last delivery) competes for the CPUs; median of {args.runs}.\n")
        lines.append("| concurrency | messages per run | Raven msg/s | Postfix msg/s | Raven / Postfix "
                     "| delivered too: Raven / Postfix |")
        lines.append("|---:|---:|---:|---:|---:|---:|")
        for s_, m in contention_plan(args):
            r = med(m / x[0] for x in runs("contention", "Raven", s_))
            p = med(m / x[0] for x in runs("contention", "Postfix", s_))
            rd = med(m / x[1] for x in runs("contention", "Raven", s_))
            pd = med(m / x[1] for x in runs("contention", "Postfix", s_))
            lines.append(f"| {s_} | {m} | {fmt(r)} | {fmt(p)} | {ratio(r, p)} | "
                         f"{fmt(rd)} / {fmt(pd)} ({ratio(rd, pd)}) |")
        lines.append("")
    if "latency" in args.scenarios:
        m = args.latency_msgs
        lines.append("## Latency: end of DATA to 250, 20 sessions\n")
        lines.append(
            f"Measured by `bench/smtpload` (from the client's `CRLF.CRLF` to the server's "
            f"`250`, every message), {m} messages per run, a new connection per message; "
            f"medians over {args.runs} runs of each run's percentile, in milliseconds.\n"
        )
        lines.append("| server | state | msg/s | p50 ms | p99 ms |")
        lines.append("|---|---|---:|---:|---:|")
        for sc, state in (("lat-quiet", "quiet"), ("lat-neighbour", "beside the neighbour")):
            for name in ("Raven", "Postfix"):
                rs = runs(sc, name, 20)
                if not rs:
                    continue
                lines.append(
                    f"| {name} | {state} | {fmt(med(x[3]['rate'] for x in rs))} | "
                    f"{med(x[3]['p50_ms'] for x in rs):.2f} | {med(x[3]['p99_ms'] for x in rs):.2f} |"
                )
        lines.append("")
    lines.append("## Every run\n")
    lines.append(
        "The last column is the 1-minute load average of the machine when the run "
        "started: other work on the machine slows single runs down.\n"
    )
    lines.append("| scenario | server | concurrency | run | accept s | msg/s | delivered s | msg/s | p50 / p99 ms | load |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (sc, name, s), rs in sorted(res.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][1])):
        m = {"throughput": dict(plan).get(s, 0), "neighbour": args.neighbour_msgs,
             "contention": dict(contention_plan(args)).get(s, 0)}.get(sc, args.latency_msgs)
        for i, (a, e, ld, fig) in enumerate(rs, 1):
            lat = f"{fig['p50_ms']:.2f} / {fig['p99_ms']:.2f}" if fig else ""
            lines.append(
                f"| {sc} | {name} | {s} | {i} | {a:.2f} | {fmt(m / a)} | {e:.2f} | "
                f"{fmt(m / e)} | {lat} | {ld} |"
            )
    lines.append("")
    lines.append("## Setup\n")
    lines.append("- Command: `make bench` (runs `bash bench/run.sh`); scenarios: "
                 + ", ".join(args.scenarios))
    commit = versions["Raven"] + (" (plus uncommitted changes)" if dirty_tree() else "")
    lines.append(f"- Raven: commit {commit}, `{os.path.relpath(args.ravend, REPO)}`"
                 + (f", with `{args.raven_conf}`" if args.raven_conf else ""))
    lines.append(f"- Postfix: {versions['Postfix']} (Debian package), private instance")
    lines.append(
        f"- Throughput client: `smtp-source -s N -m M -l {MSG_LEN} -f {SENDER} -t {RCPT} "
        "-M client.test 127.0.0.1:PORT`"
    )
    lines.append(
        f"- Latency client: `bench/smtpload -s 20 -m M -l {MSG_LEN} -f {SENDER} -t {RCPT} PORT`"
    )
    lines.append(f"- CPUs: {facts['nproc']} ({facts.get('cpu', 'unknown')}), memory {facts.get('memory', '?')}")
    lines.append(f"- Kernel: {facts['kernel']}")
    lines.append(f"- Filesystem of the spools and Maildirs: {facts['filesystem']}")
    lines.append(f"- Load average at start / end: {load[0]} / {load[1]}")
    try:
        busy = max(float(x.split()[0]) for x in load)
    except (ValueError, IndexError):
        busy = 0.0
    if busy > 0.5 * (os.cpu_count() or 1):
        lines.append(
            "- Note: other work was running on the machine during the run (see the load "
            "average); single runs vary, compare the medians and rerun on a quiet machine "
            "for publication."
        )
    lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def contention_plan(args):
    """(sessions, messages) of the CPU-contention runs: 1 and 20 sessions."""
    return [(1, args.contention_msgs // 4), (20, args.contention_msgs)]


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ravend", default=os.path.join(REPO, "build", "src", "parent", "ravend"))
    ap.add_argument("--tmp", default=os.environ.get("BENCH_TMP", "/tmp"))
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")))
    ap.add_argument("--plan", default=os.environ.get("BENCH_PLAN", "1:500,20:5000,100:10000"),
                    help="sessions:messages pairs")
    ap.add_argument("--raven-port", type=int, default=int(os.environ.get("BENCH_RAVEN_PORT", "40025")))
    ap.add_argument("--postfix-port", type=int, default=int(os.environ.get("BENCH_POSTFIX_PORT", "40026")))
    ap.add_argument("--scenarios", default=os.environ.get("BENCH_SCENARIOS",
                                                          "throughput,contention,neighbour,latency"),
                    help="comma-separated: throughput, contention, neighbour, latency")
    ap.add_argument("--neighbour-mb", type=int,
                    default=int(os.environ.get("BENCH_NEIGHBOUR_MB", "3072")),
                    help="size of each pass of the neighbour's dd, MB")
    ap.add_argument("--neighbour-msgs", type=int,
                    default=int(os.environ.get("BENCH_NEIGHBOUR_MSGS", "3000")))
    ap.add_argument("--contention-msgs", type=int,
                    default=int(os.environ.get("BENCH_CONTENTION_MSGS", "2000")),
                    help="messages per 20-session contention run (a quarter at 1 session)")
    ap.add_argument("--latency-msgs", type=int,
                    default=int(os.environ.get("BENCH_LATENCY_MSGS", "3000")))
    ap.add_argument("--raven-conf", default=os.environ.get("BENCH_RAVEN_CONF", ""),
                    help="extra raven.conf lines, separated by ';' (e.g. 'queue sync syncfs')")
    ap.add_argument("--out", default=os.path.join(HERE, "results.md"))
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = ap.parse_args()
    args.ravend = os.path.abspath(args.ravend)
    args.scenarios = [x.strip() for x in args.scenarios.split(",") if x.strip()]
    for sc in args.scenarios:
        if sc not in ("throughput", "contention", "neighbour", "latency"):
            sys.exit(f"bench: unknown scenario {sc}")
    if "latency" in args.scenarios and not os.access(SMTPLOAD, os.X_OK):
        sys.exit(f"bench: {SMTPLOAD} is missing (bench/run.sh builds it)")
    plan = parse_plan(args.plan)

    for p in (args.raven_port, args.postfix_port):
        if not port_free(p):
            sys.exit(f"bench: port {p} on 127.0.0.1 is in use")
    try:
        pw = pwd.getpwnam("raven")
    except KeyError:
        sys.exit("bench: the system user 'raven' is missing (ravend drops to it)")

    # SIGTERM/SIGINT unwind through the finally below, which stops both servers.
    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)

    root = tempfile.mkdtemp(prefix="rbench.", dir=args.tmp)
    os.chmod(root, 0o755)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    load_start = loadavg()
    facts = machine_facts(root)
    # Postfix's virtual(8) writes the Maildir as the same unprivileged user
    # that Raven's deliveries run as.
    raven = Raven(args.ravend, root, args.raven_port, args.raven_conf)
    postfix = Postfix(root, args.postfix_port, pw.pw_uid, pw.pw_gid)
    servers = [raven, postfix]
    res = {}
    ok = False
    neighbour = Neighbour(root, args.neighbour_mb)
    busy = BusyLoops()

    def measure(scenario, s, m, client="smtp-source", nb=None):
        for i in range(args.runs):
            order = servers if i % 2 == 0 else servers[::-1]
            for srv in order:
                a, e, ld, fig = run_once(srv, s, m, 120, neighbour=nb, client=client)
                res.setdefault((scenario, srv.name, s), []).append((a, e, ld, fig))
                extra = f", p50 {fig['p50_ms']:.2f} ms, p99 {fig['p99_ms']:.2f} ms" if fig else ""
                log(
                    f"{scenario:13} {srv.name:7} sessions={s:<3} run={i + 1} {m} msgs: "
                    f"accepted {m / a:8.1f} msg/s, delivered {m / e:8.1f} msg/s{extra} "
                    f"(load {ld})"
                )

    try:
        for srv in servers:
            srv.start()
        versions = {srv.name: srv.version() for srv in servers}
        log(f"scratch directory {root}; Raven {versions['Raven']}, Postfix {versions['Postfix']}")
        # Warm-up: Postfix forks its smtpd processes on demand, both servers
        # create their Maildir; not measured.
        wmax = max(s for s, _ in plan)
        for srv in servers:
            run_once(srv, wmax, 2 * wmax, 60)
        if "throughput" in args.scenarios:
            for s, m in plan:
                measure("throughput", s, m)
        if "contention" in args.scenarios:
            for s, m in contention_plan(args):
                measure("contention", s, m, nb=busy)
        if "latency" in args.scenarios:
            measure("lat-quiet", 20, args.latency_msgs, client="smtpload")
        if "neighbour" in args.scenarios:
            measure("neighbour", 20, args.neighbour_msgs, nb=neighbour)
        if "latency" in args.scenarios:
            measure("lat-neighbour", 20, args.latency_msgs, client="smtpload", nb=neighbour)
        ok = True
    finally:
        neighbour.remove()
        busy.remove()
        for srv in servers:
            try:
                srv.stop()
            except Exception as exc:  # keep stopping the others
                log(f"stopping {srv.name}: {exc}")
        if not ok:
            log(f"FAILED; scratch directory kept: {root}")
    write_results(args.out, args, facts, versions, plan, res, started, (load_start, loadavg()),
                  neighbour.peak_dirty)
    if args.keep:
        log(f"scratch directory kept: {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    with open(args.out) as f:
        print(f.read())
    log(f"wrote {os.path.relpath(args.out)}")


if __name__ == "__main__":
    main()
