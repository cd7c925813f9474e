"""The SPF adapter (spf_check_start, src/auth/spf_dns.c) on a real event loop
with the dns module against the fake DNS server: what the RFC suites do not
look at. The overall time limit, the HELO identity, cancelling a check,
and that the evaluator's lookups are the ones the server sees."""

import subprocess
import time

from tools import tool

SPFCHECK = tool("spfcheck")


def spfcheck(server, *args, timeout_ms=2000):
    cmd = [SPFCHECK, "-s", "127.0.0.1", "-p", str(server.port), "-t", str(timeout_ms),
           "-r", "mx.receiver.example"]
    p = subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def result(out):
    res, explanation, reason = out.rstrip("\n").split("\t")
    return res, explanation, reason


def test_pass_fail_explanation_and_lookups(fakedns):
    fakedns.add("example.org", "TXT", "v=spf1 mx include:_spf.example.net -all exp=why.%{d}")
    fakedns.add("example.org", "MX", (10, "mx.example.org"))
    fakedns.add("mx.example.org", "A", "192.0.2.10")
    fakedns.add("_spf.example.net", "TXT", ["v=spf1 ip4:198.51.100.0/24", " ip6:2001:db8::/32 -all"])
    fakedns.add("why.example.org", "TXT", "%{i} may not send for %{o} (asked by %{r})")
    assert result(spfcheck(fakedns, "192.0.2.10", "a@example.org", "h.example"))[0] == "pass"
    assert result(spfcheck(fakedns, "2001:db8::7", "a@example.org", "h.example"))[0] == "pass"
    res, explanation, reason = result(spfcheck(fakedns, "203.0.113.5", "a@example.org",
                                               "h.example"))
    assert res == "fail" and reason == "example.org matched -all"
    assert explanation == "203.0.113.5 may not send for example.org (asked by mx.receiver.example)"
    # three checks, each with a fresh resolver: the record was asked each time
    assert fakedns.count("example.org", "TXT") == 3
    assert fakedns.count("why.example.org", "TXT") == 1  # only for the fail
    assert fakedns.count("_spf.example.net", "SPF") == 0  # type 99 is never asked


def test_helo_identity(fakedns):
    fakedns.add("mail.example.org", "TXT", "v=spf1 a -all")
    fakedns.add("mail.example.org", "A", "192.0.2.25")
    fakedns.add("example.org", "TXT", "v=spf1 -all")
    out = spfcheck(fakedns, "-H", "192.0.2.25", "someone@example.org", "mail.example.org")
    assert result(out)[0] == "pass"
    assert fakedns.count("example.org", "TXT") == 0  # MAIL FROM's domain not asked
    # <> checks the HELO identity
    assert result(spfcheck(fakedns, "192.0.2.26", "", "mail.example.org"))[0] == "fail"
    assert result(spfcheck(fakedns, "192.0.2.26", "", "[192.0.2.26]"))[0] == "none"


def test_time_limit(fakedns):
    """Each lookup times out after 400 ms; the check as a whole after 1 s."""
    fakedns.add("slow.example.org", "TXT",
                "v=spf1 a:t1.example.org a:t2.example.org a:t3.example.org -all")
    for n in ("t1", "t2", "t3"):
        fakedns.timeout(n + ".example.org")
    t0 = time.monotonic()
    res, _, reason = result(spfcheck(fakedns, "-T", "1000", "192.0.2.1", "a@slow.example.org",
                                     "h.example", timeout_ms=5000))
    elapsed = time.monotonic() - t0
    assert res == "temperror" and "time limit" in reason
    assert 0.9 < elapsed < 4
    # a lookup's own timeout is a temperror too, and quicker
    res, _, reason = result(spfcheck(fakedns, "192.0.2.1", "a@slow.example.org", "h.example",
                                     timeout_ms=400))
    assert res == "temperror" and "timeout" in reason and "t1.example.org" in reason


def test_cancel(fakedns):
    fakedns.add("slow.example.org", "TXT", "v=spf1 a:t1.example.org -all")
    fakedns.timeout("t1.example.org")
    out = spfcheck(fakedns, "-c", "200", "-w", "1500", "192.0.2.1", "a@slow.example.org",
                   "h.example", timeout_ms=600)
    assert out == "cancelled\n"  # and no result line in the 1.5 s after
    assert fakedns.count("t1.example.org", "A") >= 1
