"""The open-spf.org RFC 7208 test suite (and the RFC 4408 and blitiri ones)
against Raven's SPF engine: for each section of a suite, its zone data is
loaded into the fake DNS server and tests/tools/spfcheck evaluates every
scenario of the section in one process (each check with a fresh resolver),
through the real dns module and libunbound. Each scenario is a test; the
first one of a suite runs the whole suite and prints a line such as
"spf rfc7208: 203/203 passed".

The data is used as published (RAVEN_TESTDATA, default tests/vectors, a byte-identical copy of ../shared/testdata;
see spf/README.md there for the conventions of pyspf's harness followed
here). Scenarios whose expectations RFC 7208 changed, or that need a
leniency RFC 7208 forbids, are listed in EXPECTED_DIFFERENCES with the
reason, and run as strict xfails: one that starts passing fails the run.

    /usr/bin/python3 tests/integ/test_spf_suite.py [rfc7208|rfc4408|blitirispf]
prints the summaries and every failure without pytest."""

import os
import subprocess
import sys
import time

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakedns import FakeDNS  # noqa: E402
from tools import tool  # noqa: E402

VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vectors")
DATA = os.path.join(os.environ.get("RAVEN_TESTDATA", VECTORS), "spf")
SUITES = ("rfc7208", "rfc4408", "blitirispf")
QUERY_TIMEOUT_MS = 800  # a TIMEOUT entry costs this; far above a loopback answer
PARALLEL = 16

# scenario -> why Raven's result differs from the suite's expectation.
# blitiri's Go library accepts single-label domains that RFC 7208 refuses;
# the RFC 7208 suite checks those refusals (helo-not-fqdn, a-only-toplabel).
SINGLE_LABEL = ("RFC 7208 4.3: %s is not a multi-label domain name, so the result is "
                "none (the rfc7208 suite's helo-not-fqdn expects the same)")
EXPECTED_DIFFERENCES = {
    "rfc7208": {},
    "rfc4408": {},
    "blitirispf": {
        "one-mx-not-found": SINGLE_LABEL % "the sender domain d00",
        "all-mx-not-found": SINGLE_LABEL % "the sender domain d01",
        "include-not-found": SINGLE_LABEL % "the sender domain d02",
        "redirect-not-found": SINGLE_LABEL % "the sender domain d03",
        "mx-resolution-10-terms": SINGLE_LABEL % "the sender domain mx10",
        "mx-resolution-11-terms": SINGLE_LABEL % "the sender domain mx11",
        "resolution-with-10-lookups": (
            "RFC 7208 7.1: a domain-spec must end in '.' toplabel, so include:d11 is a "
            "syntax error (permerror; the rfc7208 suite's a-only-toplabel expects the same)"),
    },
}


def suite_path(name):
    return os.path.join(DATA, name + "-tests.yml")


def load_suite(name):
    """The sections of a suite, each with "keys": scenario id -> the
    scenario's name in this suite (the id, or "id@N" for an id that more
    than one section uses: blitirispf's test1 and test2)."""
    with open(suite_path(name), "rb") as f:
        sections = [s for s in yaml.safe_load_all(f) if s]
    seen = {}
    for sec in sections:
        for sid in sec.get("tests") or {}:
            seen[sid] = seen.get(sid, 0) + 1
    for n, sec in enumerate(sections, 1):
        sec["keys"] = {sid: sid if seen[sid] == 1 else "%s@%d" % (sid, n)
                       for sid in sec.get("tests") or {}}
    return sections


def as_list(v):
    return v if isinstance(v, list) else [v]


def load_zone(server, zonedata):
    """The reference harness's conventions (pyspf testspf.py): SPF records
    are served as TXT too unless the name has TXT entries of its own; a
    list is one record of several strings; "NONE" adds nothing; TIMEOUT
    makes the name's other queries time out; names that are missing are
    NXDOMAIN, except "error.*", which time out."""
    server.clear()
    server.missing = lambda name: "timeout" if name.startswith("error.") else "nxdomain"
    for name, entries in (zonedata or {}).items():
        entries = entries or []
        has_txt = any(isinstance(e, dict) and "TXT" in e for e in entries)
        for e in entries:
            if e == "TIMEOUT" or (isinstance(e, dict) and e.get("TIMEOUT")):
                server.timeout(name)
                continue
            if isinstance(e, dict) and e.get("SERVFAIL"):
                server.servfail(name)
                continue
            for rtype, value in e.items():
                if rtype in ("TXT", "SPF"):
                    if value == "NONE":
                        continue
                    strings = [value] if isinstance(value, str) else list(value)
                    strings = [s.encode("utf-8") for s in strings]
                    if isinstance(value, str):  # one long string: 255-octet pieces
                        strings = [strings[0][i:i + 255] for i in range(0, len(strings[0]), 255)] or [b""]
                    server.add(name, rtype, strings)
                    if rtype == "SPF" and not has_txt:
                        server.add(name, "TXT", strings)
                elif rtype == "MX":
                    server.add(name, "MX", (value[0], value[1] or "."))
                else:
                    server.add(name, rtype, value)


def run_section(server, tests):
    lines = []
    for sid, t in tests.items():
        lines.append("\t".join([sid, str(t["host"]), t.get("mailfrom") or "", t.get("helo") or ""]))
    cmd = [tool("spfcheck"), "-b", "-j", str(PARALLEL), "-s", "127.0.0.1", "-p", str(server.port),
           "-t", str(QUERY_TIMEOUT_MS), "-e", "DEFAULT", "-r", "receiver.example", "-n", "1700000000"]
    p = subprocess.run(cmd, input="\n".join(lines) + "\n", capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    out = {}
    for line in p.stdout.splitlines():
        sid, result, explanation, reason = line.split("\t", 3)
        out[sid] = (result, explanation, reason)
    return out


def run_suite(name):
    """{scenario id: (ok, message)} for every scenario of the suite."""
    outcomes = {}
    with FakeDNS() as server:
        for section in load_suite(name):
            tests = section.get("tests") or {}
            load_zone(server, section.get("zonedata"))
            got = run_section(server, tests)
            for sid, t in tests.items():
                key = section["keys"][sid]
                if sid not in got:
                    outcomes[key] = (False, "no result from spfcheck")
                    continue
                result, explanation, reason = got[sid]
                want = as_list(t["result"])
                ok = result in want
                msg = "%s: got %s (%s), want %s" % (key, result, reason, "/".join(want))
                if ok and "explanation" in t and explanation != t["explanation"]:
                    ok = False
                    msg = "%s: explanation %r, want %r" % (key, explanation, t["explanation"])
                outcomes[key] = (ok, msg + " [%s]" % section.get("description", ""))
    return outcomes


RESULTS = {}


def suite_results(name, config=None):
    if name not in RESULTS:
        t0 = time.monotonic()
        outcomes = run_suite(name)
        RESULTS[name] = outcomes
        passed = sum(1 for ok, _ in outcomes.values() if ok)
        differ = EXPECTED_DIFFERENCES.get(name, {})
        line = "spf %s: %d/%d passed" % (name, passed, len(outcomes))
        if differ:
            line += " (%d expected differences, listed in the driver)" % len(differ)
        line += " (%.1f s)" % (time.monotonic() - t0)
        tr = config.pluginmanager.get_plugin("terminalreporter") if config else None
        if tr:  # past pytest's output capture, beside the progress dots
            with config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
                tr.write_line("")
                tr.write_line(line)
        else:
            print(line)
    return RESULTS[name]


def scenarios():
    params = []
    for name in SUITES:
        if not os.path.exists(suite_path(name)):
            params.append(pytest.param(name, None, id=name + "-missing"))
            continue
        for section in load_suite(name):
            for key in section["keys"].values():
                why = EXPECTED_DIFFERENCES.get(name, {}).get(key)
                marks = [pytest.mark.xfail(reason=why, strict=True)] if why else []
                params.append(pytest.param(name, key, id="%s-%s" % (name, key), marks=marks))
    return params


@pytest.mark.parametrize("suite,scenario", scenarios())
def test_spf_scenario(suite, scenario, request):
    assert scenario is not None, "SPF test data not found: %s" % suite_path(suite)
    ok, msg = suite_results(suite, request.config)[scenario]
    assert ok, msg


if __name__ == "__main__":
    for name in sys.argv[1:] or SUITES:
        res = suite_results(name)
        for sid, (ok, msg) in sorted(res.items()):
            if not ok:
                print("  FAIL " + msg + ("  (expected: %s)" % EXPECTED_DIFFERENCES[name][sid]
                                        if sid in EXPECTED_DIFFERENCES.get(name, {}) else ""))
