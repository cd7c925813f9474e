"""A fake DNS server for the integration tests: answers on 127.0.0.1 (UDP
and TCP, one free port) from records the test sets in Python, and can be
told to fail on purpose: SERVFAIL, no answer at all (a timeout for the
client), or NXDOMAIN, per name or per (name, type). It counts the queries it
receives per (name, type), so a test can prove that an answer came from a
cache and not from the wire.

    dns = FakeDNS()                       # or the `fakedns` fixture
    dns.start()
    dns.add("example.org", "MX", (10, "mx.example.org"))
    dns.add("mx.example.org", "A", "192.0.2.1", ttl=60)
    dns.add("example.org", "TXT", ["v=spf1 ", "-all"])   # one record, two strings
    dns.servfail("broken.example.org")
    dns.timeout("slow.example.org", "TXT")
    ... point the resolver at ("127.0.0.1", dns.port) ...
    assert dns.count("example.org", "MX") == 1
    dns.stop()

Names are matched without regard to case, label by label, with every byte
other than "." literal (an SPF test zone has names with spaces and colons).
A name that has no records is NXDOMAIN; a name that has records, but none of
the asked type, is NODATA (NOERROR with an SOA in the authority section, so a
resolver can cache the negative answer). A CNAME is followed inside the zone,
as an authoritative server does.

Written for tests only: a single thread serves both sockets, and a TCP client
gets one answer per query until it closes.
"""

import selectors
import socket
import struct
import threading

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

NEG_TTL = 300
MAX_CNAME_CHASE = 8


def labels_of(name):
    """'Example.COM.' -> (b'example', b'com'): the key a name is stored under."""
    if isinstance(name, dns.name.Name):
        return tuple(l.lower() for l in name.labels if l)
    if isinstance(name, str):
        name = name.encode("utf-8")
    name = name.rstrip(b".")
    if not name:
        return ()
    return tuple(l.lower() for l in name.split(b"."))


def text_of(labels):
    return ".".join(l.decode("latin-1") for l in labels)


def wire_name(text):
    """A dns.name.Name whose labels are the literal bytes between the dots."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    raw = raw.rstrip(b".")
    parts = raw.split(b".") if raw else []
    return dns.name.Name(parts + [b""])


class FakeDNS:
    def __init__(self, host="127.0.0.1"):
        self.host = host
        self.port = None
        self._lock = threading.Lock()
        self._records = {}     # labels -> [(rtype, rdata, ttl)]
        self._fail = {}        # (labels, rtype or None) -> "servfail"|"timeout"|"nxdomain"
        self._counts = {}      # (name text, rtype text) -> n
        self.missing = "nxdomain"   # what a name without records gets; or a
        # function(name_text) -> "nxdomain" | "timeout" | "servfail"
        self._thread = None
        self._stop_r = self._stop_w = None
        self._udp = self._tcp = None

    # --- zone -------------------------------------------------------------
    def add(self, name, rtype, value, ttl=300):
        """Add one record. value: A/AAAA "addr"; MX (pref, "exchange");
        TXT/SPF "text" or [str|bytes, ...] (one record of several strings;
        [] is a record with no strings); PTR/CNAME/NS "target"; TLSA
        (usage, selector, mtype, bytes or hex)."""
        rtype = rtype.upper()
        rdata = self._rdata(rtype, value)
        with self._lock:
            self._records.setdefault(labels_of(name), []).append((rtype, rdata, ttl))

    def names(self):
        with self._lock:
            return [text_of(k) for k in self._records]

    def clear(self):
        """Forget every record, failure and count."""
        with self._lock:
            self._records.clear()
            self._fail.clear()
            self._counts.clear()
            self.missing = "nxdomain"

    def servfail(self, name, rtype=None):
        self._set_fail(name, rtype, "servfail")

    def timeout(self, name, rtype=None):
        """Never answer. Without rtype: every query for name that its own
        records cannot answer (a name with TXT records and a timeout still
        answers TXT queries, as in the SPF test suites)."""
        self._set_fail(name, rtype, "timeout")

    def nxdomain(self, name):
        """Answer NXDOMAIN for name even if it has records."""
        self._set_fail(name, None, "nxdomain")

    def _set_fail(self, name, rtype, how):
        with self._lock:
            self._fail[(labels_of(name), rtype.upper() if rtype else None)] = how

    def count(self, name, rtype):
        with self._lock:
            return self._counts.get((text_of(labels_of(name)), rtype.upper()), 0)

    def total(self):
        with self._lock:
            return sum(self._counts.values())

    def reset_counts(self):
        with self._lock:
            self._counts.clear()

    @staticmethod
    def _rdata(rtype, value):
        t = dns.rdatatype.from_text(rtype)
        IN = dns.rdataclass.IN
        if rtype in ("TXT", "SPF"):
            strings = [value] if isinstance(value, (str, bytes)) else list(value)
            strings = [s.encode("utf-8") if isinstance(s, str) else s for s in strings]
            from dns.rdtypes.ANY.SPF import SPF
            from dns.rdtypes.ANY.TXT import TXT
            return (TXT if rtype == "TXT" else SPF)(IN, t, strings)
        if rtype == "MX":
            from dns.rdtypes.ANY.MX import MX
            return MX(IN, t, int(value[0]), wire_name(value[1]))
        if rtype in ("PTR", "CNAME", "NS"):
            cls = {"PTR": "dns.rdtypes.ANY.PTR", "CNAME": "dns.rdtypes.ANY.CNAME",
                   "NS": "dns.rdtypes.ANY.NS"}[rtype]
            mod = __import__(cls, fromlist=[rtype])
            return getattr(mod, rtype)(IN, t, wire_name(value))
        if rtype == "TLSA":
            from dns.rdtypes.ANY.TLSA import TLSA
            usage, selector, mtype, data = value
            if isinstance(data, str):
                data = bytes.fromhex(data)
            return TLSA(IN, t, usage, selector, mtype, data)
        return dns.rdata.from_text(IN, t, str(value))

    # --- server -----------------------------------------------------------
    def start(self):
        """Bind UDP and TCP on one free port (the same number for both) and
        serve from a thread. Keeps the port across stop()/start()."""
        if self._thread:
            return self
        fam = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for _ in range(50):
            udp = socket.socket(fam, socket.SOCK_DGRAM)
            try:
                udp.bind((self.host, self.port or 0))
                port = udp.getsockname()[1]
                tcp = socket.socket(fam, socket.SOCK_STREAM)
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind((self.host, port))
                tcp.listen(16)
            except OSError:
                udp.close()
                if self.port:
                    raise
                continue
            break
        else:
            raise RuntimeError("fakedns: no free port")
        self.port = port
        self._udp, self._tcp = udp, tcp
        self._stop_r, self._stop_w = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, name="fakedns", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if not self._thread:
            return
        self._stop_w.send(b"x")
        self._thread.join(5)
        self._thread = None
        for s in (self._udp, self._tcp, self._stop_r, self._stop_w):
            s.close()

    def restart(self):
        self.stop()
        self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _serve(self):
        sel = selectors.DefaultSelector()
        sel.register(self._udp, selectors.EVENT_READ, "udp")
        sel.register(self._tcp, selectors.EVENT_READ, "listen")
        sel.register(self._stop_r, selectors.EVENT_READ, "stop")
        conns = {}
        try:
            while True:
                for key, _ in sel.select():
                    what = key.data
                    if what == "stop":
                        return
                    if what == "udp":
                        try:
                            data, peer = self._udp.recvfrom(65535)
                        except OSError:
                            continue
                        out = self._answer(data, udp=True)
                        if out is not None:
                            try:
                                self._udp.sendto(out, peer)
                            except OSError:
                                pass
                    elif what == "listen":
                        c, _ = self._tcp.accept()
                        conns[c] = b""
                        sel.register(c, selectors.EVENT_READ, "tcp")
                    else:
                        c = key.fileobj
                        try:
                            chunk = c.recv(65535)
                        except OSError:
                            chunk = b""
                        if not chunk:
                            sel.unregister(c)
                            conns.pop(c, None)
                            c.close()
                            continue
                        buf = conns[c] + chunk
                        while len(buf) >= 2:
                            n = struct.unpack("!H", buf[:2])[0]
                            if len(buf) < 2 + n:
                                break
                            out = self._answer(buf[2:2 + n], udp=False)
                            buf = buf[2 + n:]
                            if out is not None:
                                try:
                                    c.sendall(struct.pack("!H", len(out)) + out)
                                except OSError:
                                    pass
                        conns[c] = buf
        finally:
            for c in conns:
                c.close()
            sel.close()

    def _answer(self, data, udp):
        try:
            q = dns.message.from_wire(data)
        except Exception:
            return None
        if not q.question:
            return None
        question = q.question[0]
        qlabels = labels_of(question.name)
        qtype = dns.rdatatype.to_text(question.rdtype)
        with self._lock:
            key = (text_of(qlabels), qtype)
            self._counts[key] = self._counts.get(key, 0) + 1
            how = self._behaviour(qlabels, qtype)
            r = dns.message.make_response(q)
            r.flags |= dns.flags.AA
            if how in ("timeout", "servfail"):
                if how == "timeout":
                    return None
                r.set_rcode(dns.rcode.SERVFAIL)
            elif how == "nxdomain":
                r.set_rcode(dns.rcode.NXDOMAIN)
                self._add_soa(r, question.name)
            else:
                self._fill(r, question.name, qlabels, qtype, question.rdtype)
        size = 65535
        if udp:
            size = max(512, q.payload) if q.edns >= 0 else 512
        try:
            return r.to_wire(max_size=size)
        except dns.exception.TooBig:
            r.answer.clear()
            r.authority.clear()
            r.additional.clear()
            r.flags |= dns.flags.TC
            return r.to_wire(max_size=size)

    def _behaviour(self, qlabels, qtype):
        have = self._records.get(qlabels)
        how = self._fail.get((qlabels, qtype))
        if how:
            return how
        how = self._fail.get((qlabels, None))
        if how == "nxdomain":
            return how
        if how and not any(t == qtype for t, _, _ in have or ()):
            return how
        if not have:
            m = self.missing(text_of(qlabels)) if callable(self.missing) else self.missing
            return m
        return None

    def _fill(self, r, qname, qlabels, qtype, rdtype):
        owner, labels = qname, qlabels
        for _ in range(MAX_CNAME_CHASE):
            recs = self._records.get(labels)
            if recs is None:
                if labels != qlabels:  # dangling CNAME: the target does not exist
                    r.set_rcode(dns.rcode.NXDOMAIN)
                self._add_soa(r, owner)
                return
            want = [(d, ttl) for t, d, ttl in recs if t == qtype]
            if want:
                self._add(r, owner, rdtype, want)
                return
            cname = [(d, ttl) for t, d, ttl in recs if t == "CNAME"]
            if not cname or qtype == "CNAME":
                self._add_soa(r, owner)
                return
            self._add(r, owner, dns.rdatatype.CNAME, cname[:1])
            owner = cname[0][0].target
            labels = labels_of(owner)
            if labels == qlabels or any(rr.name == owner for rr in r.answer):
                return  # a loop: the resolver sees it
        return

    @staticmethod
    def _add(r, owner, rdtype, items):
        rrset = r.find_rrset(r.answer, owner, dns.rdataclass.IN, rdtype, create=True)
        for rdata, ttl in items:
            rrset.add(rdata, ttl)  # an RRset has one TTL: the smallest

    @staticmethod
    def _add_soa(r, owner):
        soa = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.SOA,
                                  "ns.fake. hostmaster.fake. 1 3600 600 86400 %d" % NEG_TTL)
        rrset = r.find_rrset(r.authority, owner, dns.rdataclass.IN, dns.rdatatype.SOA,
                             create=True)
        rrset.add(soa, NEG_TTL)
