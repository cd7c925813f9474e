#!/usr/bin/python3
"""Sender-checks benchmark: Raven's accept rate at 20 sessions with SPF,
DKIM verification and DMARC on, against the same server with them off.

Both configurations are the throughput benchmark's Raven (bench.py: local
Maildir delivery, fsync before 250). "on" adds `spf reject`, `dkim verify`,
`dmarc reject` and a resolver: the fake DNS server of the integration tests
(tests/integ/fakedns.py) on loopback, serving the client domain's SPF record
(ip4:127.0.0.0/8), its DKIM key (RSA 2048) and its DMARC record (p=reject),
and "local networks" that leave out loopback, so that every session is
checked. Every message is the same 1 KB message signed by dkimpy
(relaxed/relaxed, rsa-sha256), sent by bench/smtpload -F in both
configurations, so each checked message costs an SPF evaluation, an RSA
verification over its header and body and a DMARC evaluation. DNS answers
are cached (the smtp role keeps them for their TTL, 300 s): a warm-up run
fills the cache before the timed runs, which measure the checks, not the
DNS server. Runs alternate off/on, RUNS each (median).

A run fails on any SMTP error; after the runs, one message delivered under
"on" must carry spf=pass, dkim=pass and dmarc=pass in its
Authentication-Results field, so the figures are of checks that ran.

Invoked by bench/run.sh (`make bench`); writes bench/checks.md.
"""

import argparse
import datetime
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integ"))
import bench  # noqa: E402
import fakedns  # noqa: E402

import dkim  # noqa: E402  (python3-dkim)
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

SESSIONS = 20
DOMAIN = "client.test"
SELECTOR = "bench"
BUDGET = 0.25  # the checks may cost at most this share of the throughput


def signed_message(path):
    """The 1 KB message, DKIM-signed by dkimpy; returns the DKIM TXT record."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    import base64
    txt = "v=DKIM1; k=rsa; p=" + base64.b64encode(pub).decode()
    lines = ["x" * 78] * (bench.MSG_LEN // 80)
    msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: load\r\n"
           "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-ID: <load@%s>\r\n\r\n"
           % (bench.SENDER, bench.RCPT, DOMAIN) + "\r\n".join(lines) + "\r\n").encode()
    sig = dkim.sign(msg, SELECTOR.encode(), DOMAIN.encode(), pem,
                    canonicalize=(b"relaxed", b"relaxed"),
                    include_headers=[b"From", b"To", b"Subject", b"Date", b"Message-ID"])
    with open(path, "wb") as f:
        f.write(sig + msg)
    return txt


def zone(dns, txt):
    dns.add(DOMAIN, "TXT", "v=spf1 ip4:127.0.0.0/8 -all")
    dns.add("%s._domainkey.%s" % (SELECTOR, DOMAIN), "TXT",
            [txt[i:i + 255] for i in range(0, len(txt), 255)])
    dns.add("_dmarc." + DOMAIN, "TXT", "v=DMARC1; p=reject")


def run(server, msgs, msgfile):
    bench.settle()
    cmd = [bench.SMTPLOAD, "-s", str(SESSIONS), "-m", str(msgs), "-f", bench.SENDER,
           "-t", bench.RCPT, "-F", msgfile, str(server.port)]
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    t1 = time.monotonic()
    if r.returncode != 0:
        raise RuntimeError("%s: smtpload failed (exit %d): %s %s; logs: %s"
                           % (server.name, r.returncode, r.stdout.strip(),
                              r.stderr.strip()[:500], server.logs()))
    figures = bench.parse_smtpload(r.stdout)
    return msgs / (t1 - t0), figures


def checked_verdict(server):
    """The Authentication-Results field of one message delivered under "on"."""
    new = server.maildir_new
    for name in sorted(os.listdir(new)):
        with open(os.path.join(new, name), "rb") as f:
            head = f.read(4096).decode("latin-1")
        if "Authentication-Results:" in head:
            field = head.split("Authentication-Results:", 1)[1].split("\nReceived:", 1)[0]
            return " ".join(field.split())
    return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ravend", default=os.path.join(bench.REPO, "build", "src", "parent",
                                                     "ravend"))
    ap.add_argument("--tmp", default=os.environ.get("BENCH_TMP", "/tmp"))
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")))
    ap.add_argument("--msgs", type=int, default=int(os.environ.get("BENCH_CHECKS_MSGS", "5000")))
    ap.add_argument("--port", type=int, default=int(os.environ.get("BENCH_CHECKS_PORT", "40125")))
    ap.add_argument("--out", default=os.path.join(HERE, "checks.md"))
    args = ap.parse_args()
    args.ravend = os.path.abspath(args.ravend)
    if not os.access(bench.SMTPLOAD, os.X_OK):
        sys.exit("bench: %s is missing (bench/run.sh builds it)" % bench.SMTPLOAD)
    if not bench.port_free(args.port):
        sys.exit("bench: port %d on 127.0.0.1 is in use" % args.port)

    root = tempfile.mkdtemp(prefix="rbench-checks.", dir=args.tmp)
    os.chmod(root, 0o755)
    msgfile = os.path.join(root, "signed.eml")
    dns = fakedns.FakeDNS().start()
    started = datetime.datetime.now(datetime.timezone.utc)
    rates = {"off": [], "on": []}
    lat = {"off": [], "on": []}
    verdict = ""
    try:
        zone(dns, signed_message(msgfile))
        checks = ('resolver "127.0.0.1" port %d; local networks { "10.255.255.0/24" }; '
                  "spf reject; dkim verify; dmarc reject" % dns.port)
        for i in range(args.runs):
            for mode in ("off", "on"):
                server = bench.Raven(args.ravend, os.path.join(root, "%s%d" % (mode, i)),
                                     args.port, extra=checks if mode == "on" else "")
                server.start()
                try:
                    run(server, 200, msgfile)  # warm-up: connections, DNS cache
                    rate, fig = run(server, args.msgs, msgfile)
                    if mode == "on" and not verdict:
                        verdict = checked_verdict(server)
                finally:
                    server.stop()
                rates[mode].append(rate)
                lat[mode].append(fig.get("p99_ms", 0.0))
                bench.log("checks %s run %d: %.0f msg/s (p99 %.1f ms)"
                          % (mode, i + 1, rate, fig.get("p99_ms", 0.0)))
                shutil.rmtree(server.root, ignore_errors=True)
    finally:
        dns.stop()
        shutil.rmtree(root, ignore_errors=True)
    for want in ("spf=pass", "dkim=pass", "dmarc=pass"):
        if want not in verdict:
            sys.exit("bench: the checked messages do not show %s: %r" % (want, verdict))
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    cost = 1 - on / off
    ok = cost <= BUDGET
    text = (
        "# Sender checks: accept rate with SPF + DKIM verify + DMARC on and off\n\n"
        "Generated by `make bench` (bench/checks.py) on %s UTC. "
        "%d sessions, %d messages per run (bench/smtpload, a new connection per message), "
        "the same DKIM-signed 1 KB message (rsa-sha256, 2048-bit key, relaxed/relaxed), "
        "median of %d alternating runs; DNS answers from the fake DNS server on loopback, "
        "cached by Raven after a warm-up run. Every message is fsynced before its 250.\n\n"
        "| checks | msg/s | p99 end-of-data to 250 (ms) |\n|---|---:|---:|\n"
        "| off | %s | %.1f |\n| spf reject, dkim verify, dmarc reject | %s | %.1f |\n\n"
        "Cost of the checks: **%.1f%%** of the throughput (budget: %d%%) — %s.\n\n"
        "Verdict of a checked message: `Authentication-Results: %s`\n"
        % (started.strftime("%Y-%m-%d %H:%M"), SESSIONS, args.msgs, args.runs,
           bench.fmt(off), statistics.median(lat["off"]), bench.fmt(on),
           statistics.median(lat["on"]), cost * 100, int(BUDGET * 100),
           "within budget" if ok else "OVER BUDGET", verdict[:300]))
    with open(args.out, "w") as f:
        f.write(text)
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
