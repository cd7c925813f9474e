"""The dns module (src/dns) end to end: tests/tools/dnsq resolves through
libunbound on a libevent loop, forwarding to the fake DNS server on a
loopback port that is not 53, and prints the parsed answers. The first
tests check the fake server itself with dnspython, a client nobody here
wrote."""

import subprocess
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from fakedns import FakeDNS
from tools import tool

DNSQ = tool("dnsq")


def dnsq(server, *args, timeout_ms=2000, check=True):
    cmd = [DNSQ, "-s", "127.0.0.1", "-p", str(server.port), "-t", str(timeout_ms)]
    p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=30)
    if check:
        assert p.returncode == 0, p.stderr
    return p.stdout


def answers(out):
    """{(name, TYPE): (fields, [record text...])} for every answer, in order."""
    res = {}
    order = []
    for line in out.splitlines():
        parts = line.split(" ")
        if len(parts) >= 3 and parts[2] == "rr":
            res[(parts[0], parts[1])][1].append(line.split(" rr ", 1)[1].rsplit(" ttl=", 1)[0])
        elif len(parts) >= 4 and parts[3].startswith("ttl="):
            fields = dict(p.split("=", 1) for p in parts[3:] if "=" in p)
            fields["status"] = parts[2]
            res[(parts[0], parts[1])] = (fields, [])
            order.append((parts[0], parts[1]))
    return res


def ask(server, name, rtype, tcp=False):
    q = dns.message.make_query(name, rtype)
    f = dns.query.tcp if tcp else dns.query.udp
    return f(q, "127.0.0.1", port=server.port, timeout=2)


# --- the fake server itself ---------------------------------------------

def test_fakedns_answers_counts_and_fails_on_demand(fakedns):
    fakedns.add("Mixed.Example", "A", "192.0.2.1")
    fakedns.add("mixed.example", "TXT", ["one", "two"])
    fakedns.timeout("mixed.example", "MX")
    fakedns.servfail("broken.example")
    r = ask(fakedns, "mixed.EXAMPLE", "A")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    assert [str(x) for x in r.answer[0]] == ["192.0.2.1"]
    assert r.answer[0].name.to_text() == "mixed.EXAMPLE."  # the asker's case
    r = ask(fakedns, "mixed.example", "TXT", tcp=True)
    assert r.answer[0][0].strings == (b"one", b"two")
    r = ask(fakedns, "mixed.example", "AAAA")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer
    assert r.authority[0].rdtype == dns.rdatatype.SOA  # a cacheable NODATA
    assert ask(fakedns, "absent.example", "A").rcode() == dns.rcode.NXDOMAIN
    assert ask(fakedns, "broken.example", "A").rcode() == dns.rcode.SERVFAIL
    with pytest.raises(dns.exception.Timeout):
        ask(fakedns, "mixed.example", "MX")
    assert fakedns.count("MIXED.example", "A") == 1
    assert fakedns.count("mixed.example", "TXT") == 1
    assert fakedns.count("mixed.example", "MX") == 1
    assert fakedns.count("mixed.example", "PTR") == 0
    fakedns.nxdomain("mixed.example")
    assert ask(fakedns, "mixed.example", "A").rcode() == dns.rcode.NXDOMAIN
    fakedns.clear()
    assert ask(fakedns, "mixed.example", "TXT").rcode() == dns.rcode.NXDOMAIN
    assert fakedns.count("mixed.example", "TXT") == 1  # counted after clear()


def test_fakedns_name_timeout_spares_types_it_has(fakedns):
    """The SPF suites' TIMEOUT: a name's own records still answer."""
    fakedns.add("half.example", "TXT", "v=spf1 -all")
    fakedns.timeout("half.example")
    assert ask(fakedns, "half.example", "TXT").answer
    with pytest.raises(dns.exception.Timeout):
        ask(fakedns, "half.example", "A")


def test_fakedns_truncates_udp_and_restarts_on_its_port(fakedns):
    fakedns.add("big.example", "TXT", ["x" * 255] * 8)
    assert ask(fakedns, "big.example", "TXT").flags & dns.flags.TC
    assert len(ask(fakedns, "big.example", "TXT", tcp=True).answer[0][0].strings) == 8
    port = fakedns.port
    fakedns.stop()
    with pytest.raises(dns.exception.Timeout):
        ask(fakedns, "big.example", "TXT")
    fakedns.start()
    assert fakedns.port == port
    assert ask(fakedns, "big.example", "TXT", tcp=True).answer


# --- the dns module through dnsq ------------------------------------------

def test_mx_a_aaaa(fakedns):
    fakedns.add("example.org", "MX", (20, "mx2.example.org"))
    fakedns.add("example.org", "MX", (10, "mx1.example.org"))
    fakedns.add("mx1.example.org", "A", "192.0.2.1", ttl=60)
    fakedns.add("mx1.example.org", "A", "192.0.2.2", ttl=120)
    fakedns.add("mx1.example.org", "AAAA", "2001:db8::1")
    a = answers(dnsq(fakedns, "example.org/MX", "mx1.example.org/A", "mx1.example.org/AAAA"))
    f, rrs = a[("example.org", "MX")]
    assert f["status"] == "ok" and f["n"] == "2" and f["secure"] == "0"
    assert sorted(rrs) == ["10 mx1.example.org", "20 mx2.example.org"]
    f, rrs = a[("mx1.example.org", "A")]
    assert sorted(rrs) == ["192.0.2.1", "192.0.2.2"] and f["ttl"] == "60"
    assert a[("mx1.example.org", "AAAA")][1] == ["2001:db8::1"]
    # each went to the fake server on its (non-53) port, once
    assert fakedns.count("example.org", "MX") == 1
    assert fakedns.count("mx1.example.org", "AAAA") == 1


def test_txt_strings_and_joined(fakedns):
    fakedns.add("example.org", "TXT", ["v=spf1 ", "ip4:192.0.2.0/24", " -all"])
    fakedns.add("empty.example.org", "TXT", [])
    fakedns.add("big.example.org", "TXT", ["%03d" % i + "y" * 251 for i in range(10)])
    a = answers(dnsq(fakedns, "example.org/TXT", "empty.example.org/TXT", "big.example.org/TXT"))
    assert a[("example.org", "TXT")][1] == [
        '"v=spf1 " "ip4:192.0.2.0/24" " -all" joined="v=spf1 ip4:192.0.2.0/24 -all"']
    assert a[("empty.example.org", "TXT")][1] == [' joined=""']
    big = a[("big.example.org", "TXT")][1][0]
    assert big.count('"') == 22 and '"009' + "y" * 251 + '" joined=' in big
    # 2.5 KB does not fit UDP: truncated, then asked again over TCP
    assert fakedns.count("big.example.org", "TXT") == 2


def test_negative_answers_and_failures(fakedns):
    fakedns.add("example.org", "A", "192.0.2.1")
    fakedns.add("alias.example.org", "CNAME", "example.org")
    fakedns.add("loop.example.org", "CNAME", "loop.example.org")
    fakedns.servfail("broken.example.org")
    a = answers(dnsq(fakedns, "nope.example.org", "example.org/MX", "broken.example.org",
                     "alias.example.org", "loop.example.org"))
    f, rrs = a[("nope.example.org", "A")]
    assert f["status"] == "nxdomain" and rrs == [] and f["ttl"] == "300"  # from the SOA
    assert a[("example.org", "MX")][0]["status"] == "nodata"
    assert a[("broken.example.org", "A")][0]["status"] == "tempfail"
    f, rrs = a[("alias.example.org", "A")]
    assert f["status"] == "ok" and f["canonical"] == "example.org" and rrs == ["192.0.2.1"]
    assert a[("loop.example.org", "A")][0]["status"] == "tempfail"


def test_ptr_tlsa_and_odd_names(fakedns):
    fakedns.add("1.2.0.192.in-addr.arpa", "PTR", "mx.example.org")
    fakedns.add("_25._tcp.mx.example.org", "TLSA", (3, 1, 1, "ab" * 32))
    fakedns.add("foo:bar/baz x.example.com", "A", "192.0.2.7")
    a = answers(dnsq(fakedns, "1.2.0.192.in-addr.arpa/PTR", "_25._tcp.mx.example.org/TLSA",
                     "foo:bar/baz\\032x.example.com"))
    assert a[("1.2.0.192.in-addr.arpa", "PTR")][1] == ["mx.example.org"]
    assert a[("_25._tcp.mx.example.org", "TLSA")][1] == ["3 1 1 " + "ab" * 32]
    assert a[("foo:bar/baz\\032x.example.com", "A")][1] == ["192.0.2.7"]
    out = dnsq(fakedns, "bad..name", "a" * 64 + ".example")
    assert "bad..name invalid-name" in out and "a" * 64 + ".example invalid-name" in out


def test_timeout(fakedns):
    fakedns.add("slow.example.org", "TXT", "fast enough")
    fakedns.timeout("slow.example.org")
    t0 = time.monotonic()
    a = answers(dnsq(fakedns, "slow.example.org/A", "slow.example.org/TXT", timeout_ms=600))
    f, _ = a[("slow.example.org", "A")]
    assert f["status"] == "timeout"
    assert 550 <= int(f["ms"]) < 1500
    assert a[("slow.example.org", "TXT")][0]["status"] == "ok"  # the server is not "down"
    assert time.monotonic() - t0 < 10
    assert fakedns.count("slow.example.org", "A") >= 1


def test_answers_cached_for_their_ttl(fakedns):
    fakedns.add("cached.example.org", "A", "192.0.2.1", ttl=300)
    fakedns.add("short.example.org", "A", "192.0.2.2", ttl=1)
    fakedns.add("ptr.example.org", "PTR", "x.example.org", ttl=300)
    out = dnsq(fakedns, "cached.example.org", "cached.example.org", "CACHED.example.org",
               "ptr.example.org/PTR", "ptr.example.org/PTR", "nope.example.org", "nope.example.org")
    assert out.count("cached.example.org A ok") == 2
    assert fakedns.count("cached.example.org", "A") == 1  # the second came from the cache
    assert fakedns.count("ptr.example.org", "PTR") == 1
    assert fakedns.count("nope.example.org", "A") == 1  # negative answers too
    # a TTL of 1 s has run out 2.5 s later: asked again (unbound counts
    # whole seconds and serves an answer whose TTL is just 0)
    out = dnsq(fakedns, "-d", "2500", "short.example.org", "short.example.org")
    assert out.count("short.example.org A ok") == 2
    assert fakedns.count("short.example.org", "A") == 2


def test_cancel(fakedns):
    """A cancelled query never calls back, in flight or not yet sent, and
    the resolver goes on answering the others."""
    fakedns.add("ok.example.org", "A", "192.0.2.1")
    fakedns.timeout("slow.example.org")
    out = dnsq(fakedns, "-w", "1200", "-C", "slow.example.org/A@100", "-C", "ok.example.org/MX@0",
               "ok.example.org", timeout_ms=800)
    assert "cancelled slow.example.org" in out
    assert "cancelled ok.example.org" in out
    assert "slow.example.org A" not in out  # no timeout line after 800 ms
    assert "ok.example.org MX" not in out
    assert "ok.example.org A ok" in out
    assert out.strip().endswith("end pending=0")
    assert fakedns.count("slow.example.org", "A") >= 1  # it was in flight


def test_parallel_lookups(fakedns):
    for i in range(30):
        fakedns.add("h%d.example.org" % i, "A", "192.0.2.%d" % (i + 1))
    names = ["h%d.example.org" % i for i in range(30)]
    a = answers(dnsq(fakedns, "-P", *names))
    for i, n in enumerate(names):
        assert a[(n, "A")][1] == ["192.0.2.%d" % (i + 1)]


def test_server_down_then_back(fakedns):
    fakedns.add("back.example.org", "A", "192.0.2.9")
    fakedns.stop()
    a = answers(dnsq(fakedns, "back.example.org", timeout_ms=500))
    assert a[("back.example.org", "A")][0]["status"] == "timeout"
    fakedns.start()
    a = answers(dnsq(fakedns, "back.example.org", timeout_ms=2000))
    assert a[("back.example.org", "A")][1] == ["192.0.2.9"]


def test_hosts_and_resolv_conf(tmp_path):
    """Without a forwarder: resolv.conf's nameservers and /etc/hosts, both
    read when the resolver is made."""
    (tmp_path / "hosts").write_text("192.0.2.44 myhost.example myalias\n2001:db8::44 myhost.example\n")
    (tmp_path / "resolv.conf").write_text("nameserver 127.0.0.1\n")
    p = subprocess.run([DNSQ, "-r", str(tmp_path / "resolv.conf"), "-H", str(tmp_path / "hosts"),
                        "myhost.example", "myhost.example/AAAA", "myalias"],
                       capture_output=True, text=True, timeout=30)
    a = answers(p.stdout)
    assert a[("myhost.example", "A")][1] == ["192.0.2.44"]
    assert a[("myhost.example", "AAAA")][1] == ["2001:db8::44"]
    assert a[("myalias", "A")][1] == ["192.0.2.44"]
    p = subprocess.run([DNSQ, "-r", str(tmp_path / "missing.conf"), "x.example"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "missing.conf" in p.stderr
    p = subprocess.run([DNSQ, "-s", "mx.example.org", "x.example"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "not an IP address" in p.stderr


def test_ipv6_forwarder():
    """A forwarder given as an IPv6 address ("::1@port" to libunbound)."""
    try:
        server = FakeDNS(host="::1").start()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        server.add("v6.example", "AAAA", "2001:db8::6")
        p = subprocess.run([DNSQ, "-s", "::1", "-p", str(server.port), "v6.example/AAAA"],
                           capture_output=True, text=True, timeout=30)
        assert answers(p.stdout)[("v6.example", "AAAA")][1] == ["2001:db8::6"]
    finally:
        server.stop()
