"""Helpers for the TLS and AUTH integration tests: certificates made with
python3-cryptography, password hashes made by mkpasswd (the Debian package
whois) as an administrator would, client TLS contexts, a raw client that
can switch to TLS mid-session, and a reader of a live process's memory."""

import datetime
import os
import re
import socket
import ssl
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import pytest

import raven as rv

PASSWORDS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret"}
# The scheme each user's hash is made with: every one mkpasswd writes that
# Debian's libcrypt and Dovecot agree on.
SCHEMES = {"alice": "yescrypt", "bob": "bcrypt", "carol": "sha512crypt"}


def make_cert(directory, tag, cn, sans=()):
    """A self-signed P-256 certificate for cn (and DNS sans); returns the
    (cert path, key path) pair, PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=2)))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]),
                            critical=False)
    cert = b.sign(key, hashes.SHA256())
    cpath = os.path.join(directory, tag + ".pem")
    kpath = os.path.join(directory, tag + ".key")
    with open(cpath, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(kpath, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.chmod(kpath, 0o600)  # root's, as a real key is: read before privileges go
    return cpath, kpath


def mkpasswd(password, scheme):
    out = subprocess.run(["mkpasswd", "-m", scheme, "--stdin"], input=password + "\n",
                         capture_output=True, text=True, check=True, timeout=30)
    return out.stdout.strip()


def write_passwd(directory, users=None):
    """users: {login: (password, scheme)}; returns (path, {login: hash})."""
    if users is None:
        users = {u: (p, SCHEMES[u]) for u, p in PASSWORDS.items()}
    hashes_ = {u: mkpasswd(p, scheme) for u, (p, scheme) in users.items()}
    path = os.path.join(directory, "passwd")
    with open(path, "w") as f:
        f.write("# login:crypt-hash, as mkpasswd writes them\n")
        for u, h in hashes_.items():
            f.write("%s:%s\n" % (u, h))
    os.chmod(path, 0o600)  # only root may read it: the auth role loads it before it drops
    return path, hashes_


def client_context(cafile=None, minimum=None, maximum=None, check_hostname=True):
    """A client context; without cafile it does not verify (self-signed)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile)
        ctx.check_hostname = check_hostname
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if minimum:
        ctx.minimum_version = minimum
    if maximum:
        ctx.maximum_version = maximum
    return ctx


class TLSRaw(rv.RawSMTP):
    """RawSMTP that can start TLS on its socket (after the 220 to STARTTLS,
    or at once for implicit TLS)."""

    def starttls(self, ctx=None, server_hostname=None):
        assert self.buf == b"", "unread plaintext before the handshake: %r" % self.buf
        ctx = ctx or client_context()
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
        return self.sock

    def read_all(self, timeout=5):
        """Every reply line until the server closes."""
        self.sock.settimeout(timeout)
        lines = []
        try:
            while True:
                lines.append(self._line())
        except rv.Closed:
            pass
        return lines


def process_memory_contains(pid, needles):
    """{needle: True/False}: whether any readable mapping of the live
    process pid holds the bytes (root reads /proc/PID/mem even of a
    process that is not dumpable; without root the test is skipped)."""
    if os.geteuid() != 0:
        pytest.skip("reading a role's memory needs root: the roles are not dumpable")
    found = {n: False for n in needles}
    with open("/proc/%d/maps" % pid) as maps:
        regions = []
        for line in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
            if m and m.group(3).startswith("r"):
                regions.append((int(m.group(1), 16), int(m.group(2), 16), line))
    chunk = 16 << 20
    overlap = max(len(n) for n in needles)
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        for start, end, line in regions:
            # Terabyte-sized reservations are a sanitizer's shadow, not data;
            # the auth role's positive control proves the search still works.
            if "[vvar]" in line or "[vsyscall]" in line or end - start > (4 << 30):
                continue
            tail = b""
            for off in range(start, end, chunk):
                try:
                    mem.seek(off)
                    data = tail + mem.read(min(chunk, end - off))
                except (OSError, ValueError, OverflowError):
                    break
                for n in needles:
                    if not found[n] and n in data:
                        found[n] = True
                tail = data[-overlap:]
    return found


def seccomp_mode(pid):
    """The Seccomp: field of /proc/PID/status (2: a filter is installed)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Seccomp:"):
                return int(line.split()[1])
    return None


def bind_source(addr):
    """Whether a socket can use addr as its source (127.0.0.2 on Linux's lo)."""
    with socket.socket() as s:
        try:
            s.bind((addr, 0))
            return True
        except OSError:
            return False
