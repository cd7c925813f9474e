#!/usr/bin/python3
"""Per-command latency of one SMTP server, one session at a time: where a
message waits (connect, HELO, MAIL, RCPT, DATA to 354, end of data to 250).

Usage: /usr/bin/python3 bench/latency.py PORT MESSAGES  (to 127.0.0.1; the
recipient user@bench.test must be accepted, as in bench/run.sh)
"""
import socket, time, sys, statistics
port = int(sys.argv[1]); n = int(sys.argv[2])
body = b"From: <sender@client.test>\r\nTo: <user@bench.test>\r\nSubject: x\r\n\r\n" + (b"x" * 78 + b"\r\n") * 13 + b".\r\n"
ph = {k: [] for k in ("connect+220", "HELO", "MAIL", "RCPT", "DATA-354", "body-250", "QUIT")}
def rd(s):
    b = b""
    while not b.endswith(b"\r\n"): b += s.recv(4096)
    return b
for i in range(n):
    t = time.monotonic(); s = socket.create_connection(("127.0.0.1", port)); r = rd(s); ph["connect+220"].append(time.monotonic() - t)
    for k, c in (("HELO", b"HELO client.test\r\n"), ("MAIL", b"MAIL FROM:<sender@client.test>\r\n"), ("RCPT", b"RCPT TO:<user@bench.test>\r\n"), ("DATA-354", b"DATA\r\n"), ("body-250", body), ("QUIT", b"QUIT\r\n")):
        t = time.monotonic(); s.sendall(c); r = rd(s); ph[k].append(time.monotonic() - t)
        assert r[:1] in b"23", r
    s.close()
for k, v in ph.items():
    v.sort(); print(f"{k:12} median {statistics.median(v)*1000:6.2f} ms  p90 {v[int(len(v)*.9)]*1000:6.2f} ms  max {v[-1]*1000:6.2f} ms")
