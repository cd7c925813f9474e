#!/usr/bin/python3
"""TLS accept benchmark: Raven against a private Postfix, both offering
STARTTLS with the same P-256 certificate, loaded by bench/tls_source.c
(smtp-source has no TLS) with N sessions at once (20 by default):

- "reused": many messages per connection (one handshake, then PER_CONN
  messages), which measures message acceptance over TLS;
- "one per connection": a connection, a full handshake (no resumption) and
  one message each, which measures handshakes.

Runs are interleaved (Raven, Postfix, Postfix, Raven, ...), median of RUNS;
after every run every message must be in the server's Maildir, exactly
once, before the next starts. Both servers fsync before their 250, as in
bench/bench.py. Invoked by bench/run.sh (`make bench`); writes bench/tls.md.
Knobs (environment): BENCH_TLS_SESSIONS=20, BENCH_RUNS=3,
BENCH_TLS_REUSED=4000 (messages, 100 a connection), BENCH_TLS_SINGLE=1000,
BENCH_TLS_RAVEN_PORT=40035, BENCH_TLS_POSTFIX_PORT=40036, BENCH_TMP=/tmp.
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
RCPT = "user@bench.test"
MSG_LEN = 1024
PER_CONN = 100


def log(msg):
    print("bench-tls: " + msg, flush=True)


def env_int(name, default):
    return int(os.environ.get(name, str(default)))


def answers(port, timeout=1.0):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout) as s:
            s.settimeout(timeout)
            return s.recv(64).startswith(b"220")
    except OSError:
        return False


def count_dir(path):
    try:
        with os.scandir(path) as it:
            return sum(1 for _ in it)
    except FileNotFoundError:
        return 0


def make_cert(root):
    cert, key = os.path.join(root, "cert.pem"), os.path.join(root, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=bench.test",
                    "-addext", "subjectAltName=DNS:bench.test", "-days", "2",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    os.chmod(cert, 0o644)
    os.chmod(key, 0o644)  # Postfix reads it as root too; a scratch key
    return cert, key


def build_client(root):
    exe = os.path.join(root, "tls_source")
    subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-std=c17", "-D_GNU_SOURCE",
                    "-o", exe, os.path.join(HERE, "tls_source.c"), "-lssl", "-lcrypto",
                    "-lpthread"], check=True)
    return exe


class Raven:
    name = "Raven"

    def __init__(self, ravend, root, port, cert, key):
        self.ravend, self.port, self.cert, self.key = ravend, port, cert, key
        self.root = os.path.join(root, "raven")
        self.proc = None
        self.maildir_new = os.path.join(self.root, "var", "mail", "user", "new")

    def start(self):
        var = os.path.join(self.root, "var")
        os.makedirs(var)
        os.chmod(self.root, 0o755)
        os.chmod(var, 0o755)
        conf = os.path.join(self.root, "raven.conf")
        with open(conf, "w") as f:
            f.write(f'hostname "bench.test"\n'
                    f'data "{var}"\n'
                    f"listen on 127.0.0.1 port {self.port}\n"
                    f'tls certificate "{self.cert}" key "{self.key}"\n'
                    f'table domains {{ "bench.test" }}\n'
                    f"limits message-size 10M recipients 1000 connections 2000 per-ip 2000\n"
                    f'action "mailbox" maildir "{var}/mail/%{{user}}"\n'
                    f'match from any for domain <domains> action "mailbox"\n')
        self.logf = open(os.path.join(self.root, "ravend.log"), "w")
        self.proc = subprocess.Popen([self.ravend, "-c", conf, "-d"], cwd=self.root,
                                     stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not answers(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ravend did not start; see {self.root}/ravend.log")
            time.sleep(0.1)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.logf.close()


class Postfix:
    name = "Postfix"

    def __init__(self, root, port, uid, gid, cert, key):
        self.root = os.path.join(root, "postfix")
        self.port, self.uid, self.gid, self.cert, self.key = port, uid, gid, cert, key
        self.started = False
        self.maildir_new = os.path.join(self.root, "mail", "user", "new")

    def sh(self, *args, capture=False):
        return subprocess.run(["bash", os.path.join(HERE, "postfix.sh"), *args],
                              check=True, capture_output=capture, text=True)

    def start(self):
        os.makedirs(self.root)
        os.chmod(self.root, 0o755)
        self.sh("setup", self.root, str(self.port), str(self.uid), str(self.gid))
        # STARTTLS with the same certificate; no session cache, tickets as
        # by default (the client does not resume anyway).
        with open(os.path.join(self.root, "conf", "main.cf"), "a") as f:
            f.write("# bench/tls.py\n"
                    "smtpd_tls_security_level = may\n"
                    f"smtpd_tls_chain_files = {self.key}, {self.cert}\n"
                    "smtpd_tls_loglevel = 0\n")
        self.started = True
        self.sh("start", self.root)
        if not answers(self.port):
            raise RuntimeError("postfix did not answer")

    def stop(self):
        if self.started:
            self.sh("stop", self.root)
            self.started = False

    def version(self):
        return self.sh("version", self.root, capture=True).stdout.strip()


def settle():
    os.sync()
    time.sleep(0.5)


def run_once(client, server, sessions, msgs, per_conn):
    settle()
    before = count_dir(server.maildir_new)
    cmd = [client, "-s", str(sessions), "-m", str(msgs), "-n", str(per_conn),
           "-l", str(MSG_LEN), "-t", RCPT, f"127.0.0.1:{server.port}"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(f"{server.name}: {' '.join(cmd)}: {r.stderr.strip()[:400]} {r.stdout}")
    f = r.stdout.split()
    got = dict(zip(f[0::2], f[1::2]))
    deadline = time.monotonic() + 120
    while count_dir(server.maildir_new) < before + msgs and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    n = count_dir(server.maildir_new) - before
    if n != msgs:
        raise RuntimeError(f"{server.name}: {n} deliveries for {msgs} messages")
    return float(got["msg/s"]), float(got["handshakes/s"]), float(got["seconds"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ravend", default=os.path.join(REPO, "build", "src", "parent", "ravend"))
    ap.add_argument("--out", default=os.path.join(HERE, "tls.md"))
    args = ap.parse_args()
    ravend = os.path.abspath(args.ravend)
    sessions = env_int("BENCH_TLS_SESSIONS", 20)
    runs = env_int("BENCH_RUNS", 3)
    scenarios = [("reused", env_int("BENCH_TLS_REUSED", 4000), PER_CONN),
                 ("one per connection", env_int("BENCH_TLS_SINGLE", 1000), 1)]
    rport = env_int("BENCH_TLS_RAVEN_PORT", 40035)
    pport = env_int("BENCH_TLS_POSTFIX_PORT", 40036)
    pw = pwd.getpwnam("raven")

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    root = tempfile.mkdtemp(prefix="rbench-tls.", dir=os.environ.get("BENCH_TMP", "/tmp"))
    os.chmod(root, 0o755)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    cert, key = make_cert(root)
    client = build_client(root)
    servers = [Raven(ravend, root, rport, cert, key),
               Postfix(root, pport, pw.pw_uid, pw.pw_gid, cert, key)]
    res = {}
    try:
        for s in servers:
            s.start()
        pf_version = servers[1].version()
        for name, msgs, per in scenarios:
            for i in range(runs):
                order = servers if i % 2 == 0 else servers[::-1]
                for s in order:
                    m, h, secs = run_once(client, s, sessions, msgs, per)
                    res.setdefault((s.name, name), []).append((m, h, secs))
                    log(f"{s.name} {name} run {i + 1}: {m:,.0f} msg/s, {h:,.1f} handshakes/s")
    finally:
        for s in servers:
            try:
                s.stop()
            except Exception as e:  # stop the other one all the same
                log(f"stopping {s.name}: {e}")
        shutil.rmtree(root, ignore_errors=True)

    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    lines = ["# TLS benchmark: Raven and Postfix accepting over STARTTLS\n",
             f"Generated by `make bench` (bench/run.sh → bench/tls.py) on {started} UTC; "
             f"Raven {commit}, Postfix {pf_version}.\n",
             f"{sessions} sessions at once, {MSG_LEN}-byte messages, one recipient; both "
             "servers offer STARTTLS with the same P-256 certificate and negotiate TLS 1.3; "
             "the client (bench/tls_source.c) does a full handshake on every connection "
             "(no resumption), and every message must reach the Maildir before the next run. "
             f"Median of {runs} interleaved runs.\n",
             "| scenario | messages | Raven msg/s | Postfix msg/s | Raven handshakes/s | "
             "Postfix handshakes/s | Raven / Postfix |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    summary = {}
    for name, msgs, per in scenarios:
        r = [statistics.median(x[k] for x in res[("Raven", name)]) for k in (0, 1)]
        p = [statistics.median(x[k] for x in res[("Postfix", name)]) for k in (0, 1)]
        summary[name] = (r, p)
        label = f"{name} ({per} a connection)"
        lines.append(f"| {label} | {msgs} | {r[0]:,.0f} | {p[0]:,.0f} | {r[1]:,.1f} | "
                     f"{p[1]:,.1f} | {r[0] / p[0]:.2f} |")
    lines += ["", "Every run (msg/s, handshakes/s):", ""]
    for (srv, name), xs in sorted(res.items()):
        lines.append(f"- {srv}, {name}: " + ", ".join(f"{m:,.0f} / {h:,.1f}" for m, h, _ in xs))
    lines.append("")
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    for name, (r, p) in summary.items():
        log(f"{name}: Raven {r[0]:,.0f} msg/s ({r[1]:,.1f} handshakes/s), "
            f"Postfix {p[0]:,.0f} msg/s ({p[1]:,.1f} handshakes/s): {r[0] / p[0]:.2f}x")
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
