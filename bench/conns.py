#!/usr/bin/python3
"""Many idle connections: Raven and a private Postfix, side by side.

For each server in turn: open N SMTP connections on loopback (spread over
several 127.0.0.x source addresses), wait for every greeting, and hold them
idle; then measure the memory of all the server's processes (RSS summed, and
PSS, which counts shared pages once) and serve PROBES new clients one after
the other, timing the greeting and a whole message (EHLO, MAIL, RCPT, DATA,
QUIT). Bounded and self-stopping: every connection has a deadline, the run
stops opening connections if the machine's available memory falls under
MIN_AVAILABLE, and everything is closed at the end.

Postfix is configured for the same number of connections
(default_process_limit): it runs one smtpd process per connection.

No process may hold more descriptors than RLIMIT_NOFILE allows (20,000 on
the machine these figures come from, and root cannot raise it), so the
idle connections are opened by several holder processes of at most HOLD_MAX
each, and beyond HOLD_MAX Raven runs `limits smtp-processes` processes, each
taking the connections of its share of the source addresses.

    bench/conns.py --ravend build/src/parent/ravend [--connections 10000]
    bench/conns.py --connections 100000 --skip-postfix

Writes bench/conns.md (and prints the table). Needs root (Postfix's master,
and ravend dropping privileges as in production).
"""

import argparse
import datetime
import os
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (the Postfix wrapper and helpers)

MIN_AVAILABLE = 3 << 30  # bytes of MemAvailable below which no more connections are opened
PROBES = 20
HOLD_MAX = 15000  # connections per holder process and per Raven smtp process


def log(msg):
    print("conns: " + msg, flush=True)


def mem_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def tree(pid):
    """pid and all its descendants."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def memory(pids):
    """(RSS sum, PSS sum) in bytes over pids."""
    rss = pss = 0
    for p in pids:
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
        except OSError:
            continue
    return rss, pss


def open_idle(port, n, sources, deadline):
    """Open up to n connections and read each greeting; returns the sockets
    that were greeted (others are closed) and why it stopped early, if so."""
    sel = selectors.DefaultSelector()
    socks, greeted, why = [], [], None
    pending = 0
    for i in range(n):
        if i % 500 == 0 and mem_available() < MIN_AVAILABLE:
            why = "stopped at %d: less than %d GiB of memory available" % (i, MIN_AVAILABLE >> 30)
            break
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((sources[i % len(sources)], 0))
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        except OSError as e:
            s.close()
            why = "stopped at %d: %s" % (i, e)
            break
        socks.append(s)
        sel.register(s, selectors.EVENT_READ)
        pending += 1
        # keep the backlog of unanswered connections bounded
        while pending > 256 and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1):
                sel.unregister(key.fileobj)
                pending -= 1
                try:
                    if key.fileobj.recv(512).startswith(b"220"):
                        greeted.append(key.fileobj)
                    else:
                        key.fileobj.close()
                except OSError:
                    key.fileobj.close()
    while pending > 0 and time.monotonic() < deadline:
        events = sel.select(timeout=1)
        for key, _ in events:
            sel.unregister(key.fileobj)
            pending -= 1
            try:
                if key.fileobj.recv(512).startswith(b"220"):
                    greeted.append(key.fileobj)
                else:
                    key.fileobj.close()
            except OSError:
                key.fileobj.close()
    if pending > 0 and why is None:
        why = "%d connections not greeted before the deadline" % pending
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    sel.close()
    return greeted, why


def probe(port, timeout=150):
    """(seconds to the greeting, seconds for a whole message) for one client."""
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    f = s.makefile("rb")

    def reply():
        while True:
            line = f.readline()
            if not line:
                raise OSError("closed")
            if line[3:4] != b"-":
                return line

    try:
        g = reply()
        t_greet = time.monotonic() - t0
        if not g.startswith(b"220"):
            raise OSError("greeting %r" % g)
        for cmd in (b"EHLO probe.test", b"MAIL FROM:<probe@client.test>",
                    b"RCPT TO:<user@bench.test>", b"DATA"):
            s.sendall(cmd + b"\r\n")
            r = reply()
            if r[:1] not in (b"2", b"3"):
                raise OSError("%s: %r" % (cmd, r))
        s.sendall(b"Subject: probe\r\n\r\nhello\r\n.\r\n")
        if not reply().startswith(b"250"):
            raise OSError("end of data refused")
        t_msg = time.monotonic() - t0
        s.sendall(b"QUIT\r\n")
        return t_greet, t_msg
    finally:
        f.close()
        s.close()


def holder(port, n, sources, deadline, w):
    """In a child process: open and hold n connections, report how many
    were greeted (and why not all), then hold them until told to stop."""
    held, why = open_idle(port, n, sources, deadline)
    os.write(w, ("%d %s\n" % (len(held), why or "")).encode())
    os.read(0, 1)  # the parent closes the pipe: let go
    for s in held:
        s.close()
    os._exit(0)


def open_idle_many(port, n, sources, deadline):
    """Up to n connections held by ceil(n / HOLD_MAX) holder processes, each
    with its slice of the sources; returns (count, why, release())."""
    k = max(1, -(-n // HOLD_MAX))
    kids, total, whys = [], 0, []
    for i in range(k):
        share = n // k + (1 if i < n % k else 0)
        mine = sources[i::k] or sources
        r, w = os.pipe()
        hold_r, hold_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            os.close(hold_w)
            os.dup2(hold_r, 0)
            try:
                holder(port, share, mine, deadline, w)
            finally:
                os._exit(1)
        os.close(w)
        os.close(hold_r)
        kids.append((pid, r, hold_w))
    for pid, r, _ in kids:
        line = b""
        while not line.endswith(b"\n"):
            chunk = os.read(r, 512)
            if not chunk:
                break
            line += chunk
        os.close(r)
        got, _, why = line.decode().strip().partition(" ")
        total += int(got or 0)
        if why:
            whys.append(why)

    def release():
        for pid, _, hold_w in kids:
            os.close(hold_w)
        for pid, _, _ in kids:
            os.waitpid(pid, 0)
    return total, ("; ".join(whys) or None), release


def scenario(server, n, sources):
    log("%s: opening %d idle connections" % (server.name, n))
    t0 = time.monotonic()
    held, why, release = open_idle_many(server.port, n, sources, t0 + 900)
    t_open = time.monotonic() - t0
    pids = tree(server.pid())
    rss, pss = memory(pids)
    log("%s: %d held (%s) in %.1fs; %d processes, RSS %.0f MB, PSS %.0f MB"
        % (server.name, held, why or "all", t_open, len(pids), rss / 1e6, pss / 1e6))
    greets, msgs, failed = [], [], 0
    for _ in range(PROBES):
        try:
            g, m = probe(server.port)
            greets.append(g)
            msgs.append(m)
        except OSError as e:
            failed += 1
            log("%s: probe failed: %s" % (server.name, e))
    release()
    res = dict(held=held, why=why, open_s=t_open, procs=len(pids), rss=rss, pss=pss,
               greet=greets, msg=msgs, failed=failed)
    if greets:
        log("%s: new client: greeting median %.2f ms (max %.2f), message median %.2f ms "
            "(max %.2f), %d failed"
            % (server.name, 1e3 * statistics.median(greets), 1e3 * max(greets),
               1e3 * statistics.median(msgs), 1e3 * max(msgs), failed))
    return res


def smtp_processes(n):
    """Raven's smtp processes for n connections: each under HOLD_MAX."""
    return max(1, -(-n // HOLD_MAX))


def source_addresses(n):
    """127.0.0.x sources: a multiple of the smtp processes (the kernel hands
    each address to the process numbered address modulo their count), at
    least 4, and few enough connections each for the ephemeral ports."""
    w = smtp_processes(n)
    k = w * max(1, -(-4 // w))
    while n / k > 20000:
        k += w
    return ["127.0.0.%d" % (2 + i) for i in range(k)]


class RavenConns(bench.Raven):
    """bench.Raven with limits for n connections."""

    def __init__(self, ravend, root, port, n):
        super().__init__(ravend, root, port)
        self.n = n

    def start(self):
        os.makedirs(os.path.join(self.root, "var"))
        os.chmod(self.root, 0o755)
        var = os.path.join(self.root, "var")
        conf = os.path.join(self.root, "raven.conf")
        with open(conf, "w") as f:
            f.write(f'hostname "bench.test"\ndata "{var}"\n'
                    f"listen on 127.0.0.1 port {self.port}\n"
                    f'table domains {{ "bench.test" }}\n'
                    f"limits connections {self.n + 100} per-ip {self.n + 100} "
                    f"smtp-processes {smtp_processes(self.n)}\n"
                    f'action "mailbox" maildir "{var}/mail/%{{user}}"\n'
                    f'match from any for domain <domains> action "mailbox"\n')
        self.logf = open(os.path.join(self.root, "ravend.log"), "w")
        self.proc = subprocess.Popen([self.ravend, "-c", conf, "-d"], cwd=self.root,
                                     stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not bench.port_answers(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("ravend did not start; see %s/ravend.log" % self.root)
            time.sleep(0.1)

    def pid(self):
        return self.proc.pid


class PostfixConns(bench.Postfix):
    """bench.Postfix with a process limit for n connections."""

    def __init__(self, root, port, uid, gid, n):
        super().__init__(root, port, uid, gid)
        self.n = n

    def start(self):
        os.makedirs(self.root)
        os.chmod(self.root, 0o755)
        self._sh("setup", self.root, str(self.port), str(self.uid), str(self.gid))
        conf = os.path.join(self.root, "conf")
        subprocess.run([bench.postfix_dist.path("usr/sbin/postconf"), "-c", conf, "-e",
                        "default_process_limit = %d" % (self.n + 100),
                        "smtpd_client_connection_count_limit = 0"],
                       check=True, env=bench.postfix_dist.env())
        self.started = True
        self._sh("start", self.root)
        if not bench.port_answers(self.port):
            raise RuntimeError("postfix did not answer")

    def pid(self):
        with open(os.path.join(self.root, "spool", "pid", "master.pid")) as f:
            return int(f.read().split()[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ravend", default=os.path.join(bench.REPO, "build", "src", "parent", "ravend"))
    ap.add_argument("--connections", type=int, default=int(os.environ.get("BENCH_CONNS", "10000")))
    ap.add_argument("--tmp", default=os.environ.get("BENCH_TMP", "/tmp"))
    ap.add_argument("--out", default=os.path.join(HERE, "conns.md"))
    ap.add_argument("--skip-postfix", action="store_true")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = min(a.connections, HOLD_MAX) + 1000
    if hard < need:
        sys.exit("conns: the descriptor limit %d is too low for %d connections" % (hard, a.connections))
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    import pwd
    import tempfile
    pw = pwd.getpwnam("raven")
    tmp = tempfile.mkdtemp(prefix="raven-conns-", dir=a.tmp)
    os.chmod(tmp, 0o755)
    sources = source_addresses(a.connections)
    results = {}
    servers = [RavenConns(a.ravend, tmp, 40035, a.connections)]
    if not a.skip_postfix:
        servers.append(PostfixConns(tmp, 40036, pw.pw_uid, pw.pw_gid, a.connections))
    for srv in servers:
        try:
            srv.start()
            results[srv.name] = scenario(srv, a.connections, sources)
        finally:
            srv.stop()
    write(a, results)


def write(a, results):
    def row(name, r):
        g = r["greet"]
        m = r["msg"]
        return ("| %s | %s | %d | %.0f | %.0f | %s | %s | %d/%d |"
                % (name, "{:,}".format(r["held"]) + ("" if r["why"] is None else " (%s)" % r["why"]),
                   r["procs"], r["rss"] / 1e6, r["pss"] / 1e6,
                   ("%.2f / %.2f" % (1e3 * statistics.median(g), 1e3 * max(g))) if g else "—",
                   ("%.2f / %.2f" % (1e3 * statistics.median(m), 1e3 * max(m))) if m else "—",
                   len(g), len(g) + r["failed"]))
    lines = [
        "# Idle connections: Raven and Postfix",
        "",
        "%s, %d connections requested, `bench/conns.py --connections %d`."
        % (datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), a.connections, a.connections),
        "",
        "| server | connections held | processes | RSS MB (sum) | PSS MB | new client: greeting ms (median / max) | whole message ms (median / max) | probes served |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(row(name, r))
    text = "\n".join(lines) + "\n"
    with open(a.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
