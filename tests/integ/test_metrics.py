"""Metrics: the Prometheus endpoint (raven.conf(5) `metrics listen`) and
`ravenctl stats --prometheus` against the real daemon. A known amount of
traffic goes in (messages accepted, recipients refused as unknown, a relay
attempt refused, a delivery deferred by a remote host) and both outputs must
count exactly that, read by a strict checker of the text format 0.0.4
written here and, when python3-prometheus-client is installed, by its parser
as an independent one. Then the endpoint's HTTP manners (404, 405, a slow
client cut off), its confinement, and counters across a role restart."""

import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

import raven as rv
from smtpsink import SmtpSink

RAVENCTL = rv.RAVENCTL
REMOTE = "remote.example"
PUSH_WAIT = 1.5  # seconds: the roles send their counts every 0.5 s

# --- a strict reader of the text exposition format 0.0.4 --------------------

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
VALUE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\Z|[+-]Inf\Z|NaN\Z")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def _unescape(s, quote):
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\":
            nxt = s[i + 1:i + 2]
            assert nxt in (("\\", "n", '"') if quote else ("\\", "n")), "bad escape in %r" % s
            out.append("\n" if nxt == "n" else nxt)
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def _labels(text):
    """'a="x",b="y"' -> (("a", "x"), ("b", "y")), every byte accounted for."""
    out, pos = [], 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        assert m, "malformed labels: %r" % text
        out.append((m.group(1), _unescape(m.group(2), True)))
        pos = m.end()
        if pos < len(text):
            assert text[pos] == "," and pos + 1 < len(text), "malformed labels: %r" % text
            pos += 1
    names = [k for k, _ in out]
    assert len(names) == len(set(names)), "a label twice: %r" % text
    return tuple(out)


def parse_exposition(text):
    """{family: {"type", "help", "samples": {(name, labels): value}}}, after
    checking the text strictly: HELP then TYPE once per family before its
    samples, families not interleaved, valid names and escapes, values that
    parse, no timestamps, no series twice, histograms complete and cumulative."""
    assert text.endswith("\n"), "no final line feed"
    families, cur = {}, None
    for line in text[:-1].split("\n"):
        if line.startswith("# HELP "):
            name, sp, help_ = line[7:].partition(" ")
            assert sp and METRIC_NAME.match(name), line
            assert name not in families, "family %s twice" % name
            cur = families[name] = {"help": _unescape(help_, False), "type": None,
                                    "samples": {}, "name": name}
        elif line.startswith("# TYPE "):
            name, _, typ = line[7:].partition(" ")
            assert cur is not None and name == cur["name"] and cur["type"] is None, line
            assert typ in TYPES, line
            cur["type"] = typ
        else:
            assert line and not line.startswith("#"), "stray line %r" % line
            assert cur is not None and cur["type"] is not None, "sample before TYPE: " + line
            m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)\Z", line)
            assert m, "malformed sample %r" % line
            name, labels, value = m.group(1), _labels(m.group(2) or ""), m.group(3)
            assert VALUE.match(value), "bad value %r" % line
            fam = cur["name"]
            if cur["type"] == "histogram":
                assert name in (fam + "_bucket", fam + "_sum", fam + "_count"), line
                assert (name == fam + "_bucket") == any(k == "le" for k, _ in labels), line
            else:
                assert name == fam, "%s in family %s" % (name, fam)
            if cur["type"] == "counter":
                assert float(value) >= 0, line
            key = (name, labels)
            assert key not in cur["samples"], "series twice: " + line
            cur["samples"][key] = float(value)
    for fam in families.values():
        assert fam["type"] is not None, "HELP without TYPE: " + fam["name"]
        if fam["type"] == "histogram":
            _check_histogram(fam)
    return families


def _check_histogram(fam):
    name, groups = fam["name"], {}
    for (sname, labels), v in fam["samples"].items():
        rest = tuple(kv for kv in labels if kv[0] != "le")
        g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if sname.endswith("_bucket"):
            le = dict(labels)["le"]
            g["buckets"].append((float(le), v))
        else:
            g[sname[len(name) + 1:]] = v
    for rest, g in groups.items():
        b = sorted(g["buckets"])
        assert b and b[-1][0] == float("inf"), "%s%s: no +Inf bucket" % (name, rest)
        assert all(x[1] <= y[1] for x, y in zip(b, b[1:])), "%s: not cumulative" % name
        assert g["count"] == b[-1][1] and g["sum"] is not None, name


def values(families):
    """{(sample name, labels as a tuple): value} across every family."""
    out = {}
    for fam in families.values():
        out.update(fam["samples"])
    return out


def value(vals, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    for (n, lab), v in vals.items():
        if n == name and tuple(sorted(lab)) == key[1]:
            return v
    raise AssertionError("no sample %s%s" % (name, labels))


def test_checker_refuses_bad_text():
    good = "# HELP a x\n# TYPE a counter\na 1\n"
    parse_exposition(good)
    for bad in ("a 1\n", good[:-1], good + good, good.replace(" 1", " -1"),
                good.replace("a 1", 'a{x="1",x="2"} 1'), good.replace("a 1", "a{x=1} 1"),
                good.replace("a 1", "a 1 1700000000"), good.replace("a 1", "a one"),
                "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
                "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"):
        with pytest.raises(AssertionError):
            parse_exposition(bad)


def independent_parse(text):
    """The samples as prometheus_client's parser reads them, or None when
    python3-prometheus-client is not installed."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        return None
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


# --- the daemon --------------------------------------------------------------

def metrics_line(port, addr="127.0.0.1"):
    return rv.CONF_METRICS.format(addr=addr, port=port)


def scrape(port, path="/metrics"):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
        assert r.status == 200
        ctype = r.headers["Content-Type"]
        return r.read().decode("utf-8"), ctype


def ctl_prometheus(raven):
    p = subprocess.run([RAVENCTL, "-c", raven.conf, "stats", "--prometheus"],
                       capture_output=True, timeout=20, cwd=raven.root)
    assert p.returncode == 0, p.stderr
    return p.stdout.decode("utf-8")


def checked(text):
    """Our strict reading, and prometheus_client's agreeing with it."""
    vals = values(parse_exposition(text))
    other = independent_parse(text)
    if other is not None:
        ours = {(n, tuple(sorted(l))): v for (n, l), v in vals.items()}
        assert other == ours
    return vals


@pytest.fixture
def sink():
    s = SmtpSink(host="127.0.0.2", port=rv.free_port())
    s.start()
    yield s
    s.stop()


def start_with_metrics(factory, fakedns, sink):
    """ravend with the endpoint, local mailboxes, and MX relay for REMOTE
    to the sink, which defers every recipient (451 at RCPT)."""
    mport = rv.free_port()
    fakedns.add(REMOTE, "MX", (10, "mx." + REMOTE))
    fakedns.add("mx." + REMOTE, "A", "127.0.0.2")
    sink.set_reply("RCPT", "451 4.7.1 try again later")
    raven = factory(extra=[metrics_line(mport),
                           'resolver "127.0.0.1" port %d' % fakedns.port,
                           'action "out" relay port %d' % sink.port,
                           'match from local for domain "%s" action "out"' % REMOTE])
    raven.metrics_port = mport
    return raven


def wait_counts(raven, pred, timeout=15):
    """Scrape until pred(values) holds (the roles' frames come every 0.5 s)."""
    last = {}

    def ok():
        last["v"] = checked(scrape(raven.metrics_port)[0])
        return pred(last["v"])
    try:
        rv.wait_until(ok, timeout, interval=0.2, what="the expected counts")
    except AssertionError:
        raise AssertionError("counts never matched; last scrape: %r" % last.get("v"))
    return last["v"]


def test_counts_exactly_what_was_sent(factory, fakedns, sink):
    raven = start_with_metrics(factory, fakedns, sink)
    # The harness's readiness probe is a connection too: count from here.
    time.sleep(PUSH_WAIT)
    base = checked(scrape(raven.metrics_port)[0])
    conns0 = value(base, "raven_smtp_connections_accepted_total")
    assert value(base, "raven_smtp_messages_accepted_total") == 0

    N, M = 3, 2
    tokens = [rv.unique("met") for _ in range(N)]
    with rv.session(raven.port) as s:
        for i, token in enumerate(tokens):
            assert s.cmd("MAIL FROM:<sender@remote.test>").code == 250
            assert s.cmd("RCPT TO:<alice@example.org>").code == 250
            if i == 0:
                for k in range(M):
                    r = s.cmd("RCPT TO:<nobody%d@example.org>" % k)
                    assert r.code == 550 and r.text.startswith("5.1.1"), r
            assert s.cmd("DATA").code == 354
            s.send(("Subject: %s\r\n\r\n%s\r\n.\r\n" % (token, token)).encode())
            assert s.reply().code == 250
        s.cmd("QUIT")
    with rv.session(raven.port) as s:  # a relay attempt from outside REMOTE: refused
        assert s.cmd("MAIL FROM:<sender@remote.test>").code == 250
        r = s.cmd("RCPT TO:<someone@elsewhere.example>")
        assert r.code == 550 and r.text.startswith("5.7.1"), r
        s.cmd("QUIT")
    with rv.session(raven.port) as s:  # relayed, and deferred by the sink
        assert s.cmd("MAIL FROM:<sender@example.org>").code == 250
        assert s.cmd("RCPT TO:<bob@%s>" % REMOTE).code == 250
        assert s.cmd("DATA").code == 354
        s.send(b"Subject: relay\r\n\r\nrelay\r\n.\r\n")
        r = s.reply()
        assert r.code == 250
        qid = r.lines[0].split()[-1]
        s.cmd("QUIT")
    for token in tokens:
        raven.wait_for("alice", token)
    rv.wait_log(raven, "deferred", id=qid)

    want = {
        ("raven_smtp_messages_accepted_total", ()): N + 1,
        ("raven_smtp_recipients_accepted_total", ()): N + 1,
        ("raven_smtp_recipients_refused_total", (("reason", "unknown_user"),)): M,
        ("raven_smtp_recipients_refused_total", (("reason", "relay_denied"),)): 1,
        ("raven_smtp_recipients_refused_total", (("reason", "too_many"),)): 0,
        ("raven_smtp_messages_refused_total", (("reason", "size"),)): 0,
        ("raven_smtp_connections_accepted_total", ()): conns0 + 3,
        ("raven_smtp_connections", ()): 0,
        ("raven_deliveries_total", (("destination", "local"), ("outcome", "delivered"))): N,
        ("raven_deliveries_total", (("destination", "local"), ("outcome", "deferred"))): 0,
        ("raven_deliveries_total", (("destination", "relay"), ("outcome", "deferred"))): 1,
        ("raven_deliveries_total", (("destination", "relay"), ("outcome", "delivered"))): 0,
        ("raven_deliveries_total", (("destination", "relay"), ("outcome", "bounced"))): 0,
        ("raven_delivery_latency_seconds_count", (("destination", "local"),)): N,
        ("raven_delivery_latency_seconds_count", (("destination", "relay"),)): 0,
        ("raven_queue_messages_committed_total", ()): N + 1,
        ("raven_queue_commit_batch_size_sum", ()): N + 1,
        ("raven_queue_commit_batch_size_count", ()): N + 1,  # one session at a time
        ("raven_queue_messages", ()): 1,
        ("raven_queue_recipients", (("state", "deferred"),)): 1,
        ("raven_queue_recipients", (("state", "pending"),)): 0,
        ("raven_relay_connections_total", (("result", "connected"),)): 1,
        ("raven_dsn_sent_total", (("kind", "failure"),)): 0,
        ("raven_role_processes", (("role", "metrics"),)): 1,
        ("raven_role_restarts_total", (("role", "smtp"),)): 0,
    }

    def matches(vals):
        return all(value(vals, n, **dict(l)) == v for (n, l), v in want.items())
    wait_counts(raven, matches)
    time.sleep(PUSH_WAIT)  # nothing more may come: exact, not at least
    text, ctype = scrape(raven.metrics_port)
    assert ctype == "text/plain; version=0.0.4; charset=utf-8"
    http = checked(text)
    got = {k: value(http, k[0], **dict(k[1])) for k in want}
    assert got == want
    # The local deliveries took well under a minute each.
    assert value(http, "raven_delivery_latency_seconds_bucket", destination="local",
                 le="60") == N
    assert value(http, "raven_uptime_seconds") >= 0
    build = [k for k in http if k[0] == "raven_build_info"]
    assert len(build) == 1 and dict(build[0][1])["version"].startswith("0.")

    # ravenctl prints the same text: the same series, the same values
    # (but for the clock).
    ctl = checked(ctl_prometheus(raven))
    assert set(ctl) == set(http)
    moving = {"raven_uptime_seconds"}
    assert {k: v for k, v in ctl.items() if k[0] not in moving} == \
        {k: v for k, v in http.items() if k[0] not in moving}


def test_http_manners(factory, fakedns, sink):
    raven = start_with_metrics(factory, fakedns, sink)
    for path, code in (("/", 404), ("/metrics/", 404), ("/favicon.ico", 404)):
        with pytest.raises(urllib.error.HTTPError) as e:
            scrape(raven.metrics_port, path)
        assert e.value.code == code
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % raven.metrics_port,
                                 data=b"x=1", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 405 and e.value.headers["Allow"] == "GET"
    # A client that trickles its request is cut off when the head is not in
    # after 5 seconds, however alive it looks.
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", raven.metrics_port), timeout=10) as c:
        got = b""
        for ch in b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ":
            try:
                c.sendall(bytes([ch]))
            except OSError:
                break
            time.sleep(0.2)
        c.settimeout(10)
        while True:
            chunk = c.recv(4096)
            if not chunk:
                break
            got += chunk
    assert got.startswith(b"HTTP/1.1 408 "), got
    assert time.monotonic() - t0 < 9
    # Bytes that are no HTTP at all: 400 at once.
    with socket.create_connection(("127.0.0.1", raven.metrics_port), timeout=10) as c:
        c.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        assert c.recv(4096).startswith(b"HTTP/1.1 400 ")
    scrape(raven.metrics_port)  # and it still serves


def test_metrics_role_confined(factory, fakedns, sink):
    """raven-metrics runs as the network user, in the empty root, under the
    network system-call filter; without `metrics listen` it does not run."""
    raven = start_with_metrics(factory, fakedns, sink)
    pid = raven.role_pid("raven-metrics")
    with open("/proc/%d/status" % pid) as f:
        status = f.read()
    assert re.search(r"^Seccomp:\s+2$", status, re.M), status
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M), status
    if os.geteuid() == 0:
        import pwd
        net = pwd.getpwnam(rv.run_net_user())
        assert rv.proc_ids(pid)["uid"] == (net.pw_uid,) * 4
        assert os.readlink("/proc/%d/root" % pid) == os.path.join(raven.data, "empty")
    plain = factory()
    time.sleep(0.5)
    assert "raven-metrics" not in plain.roles()


def test_counters_survive_a_role_restart(factory, fakedns, sink):
    raven = start_with_metrics(factory, fakedns, sink)
    time.sleep(PUSH_WAIT)
    token = rv.unique("restart")
    rv.send_raw(raven.port, "sender@remote.test", ["alice@example.org"],
                rv.dot_stuff_crlf(rv.make_message(token)))
    raven.wait_for("alice", token)
    before = wait_counts(raven, lambda v: value(v, "raven_smtp_messages_accepted_total") == 1)
    conns = value(before, "raven_smtp_connections_accepted_total")
    old = raven.role_pid("raven-smtp")
    os.kill(old, 9)
    raven.role_pid("raven-smtp", exclude=(old,))
    after = wait_counts(raven, lambda v: value(v, "raven_role_restarts_total",
                                               role="smtp") == 1)
    assert value(after, "raven_smtp_messages_accepted_total") == 1
    assert value(after, "raven_smtp_connections_accepted_total") >= conns
    assert value(after, "raven_role_restarts_total", role="queue") == 0
    # The new smtp role's counts add to the old one's.
    token = rv.unique("restart2")
    rv.send_raw(raven.port, "sender@remote.test", ["alice@example.org"],
                rv.dot_stuff_crlf(rv.make_message(token)))
    wait_counts(raven, lambda v: value(v, "raven_smtp_messages_accepted_total") == 2)
