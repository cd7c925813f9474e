"""DKIM interoperability between Raven (through tests/tools/dkimtool) and
dkimpy (Debian python3-dkim), an implementation nobody here wrote: what
Raven signs dkimpy verifies, what dkimpy signs Raven verifies, and a
tampered copy fails in both, for rsa-sha256 and ed25519-sha256. Keys are
made by Raven's own generator (dkim_keygen), so its PEM and TXT output are
checked by dkimpy and python3-cryptography too."""

import base64
import os
import subprocess
import time
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization

REPO = Path(__file__).resolve().parents[2]
DKIMTOOL = os.environ.get("DKIMTOOL", str(REPO / "build" / "tests" / "tools" / "dkimtool"))
DOMAIN = "example.com"
SELECTOR = "sel"
KEYNAME = "%s._domainkey.%s" % (SELECTOR, DOMAIN)
NOW = 1700000000

MESSAGES = {
    "plain": b"From: Alice <alice@example.com>\r\nTo: bob@example.net\r\n"
             b"Subject: hello\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
             b"Message-ID: <1@example.com>\r\n\r\nHello Bob.\r\n",
    # folding, odd spacing, repeated and unsigned fields, trailing blanks
    "awkward": b"Received: from a by b; Tue, 14 Nov 2023 22:13:20 +0000\r\n"
               b"From: \"Alice  Q.\"\t <alice@example.com>\r\n"
               b"Subject:   a  folded\r\n\tsubject\t \r\n"
               b"To: bob@example.net,\r\n carol@example.org\r\n"
               b"X-Mailer: test\r\nCc: dave@example.com\r\nCc: eve@example.com\r\n"
               b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
               b"  leading spaces\r\ntrailing spaces   \r\n\ttabs\t\there\r\n"
               b"caf\xc3\xa9 8-bit\r\n" + b"x" * 990 + b"\r\n\r\n\r\n\r\n",
    "empty-body": b"From: alice@example.com\r\nSubject: nothing\r\n\r\n",
}


def need_tool():
    if not os.access(DKIMTOOL, os.X_OK):
        pytest.fail("dkimtool not built: %s (build, or set DKIMTOOL)" % DKIMTOOL)


@pytest.fixture(scope="module", params=["ed25519", "rsa"])
def key(request, tmp_path_factory):
    """A key pair from Raven's generator: (alg, pem path, TXT record, dkimpy key)."""
    need_tool()
    d = tmp_path_factory.mktemp("key")
    pem_path = d / "key.pem"
    args = [DKIMTOOL, "keygen", "-a", request.param, "-o", str(pem_path)]
    if request.param == "rsa":
        args += ["-b", "2048"]
    txt = subprocess.run(args, check=True, capture_output=True).stdout.decode().strip()
    pem = pem_path.read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert txt.startswith("v=DKIM1; k=%s; p=" % request.param)
    priv = serialization.load_pem_private_key(pem, password=None)
    if request.param == "ed25519":
        # dkimpy takes an Ed25519 key as its base64 seed
        seed = priv.private_bytes(serialization.Encoding.Raw,
                                  serialization.PrivateFormat.Raw,
                                  serialization.NoEncryption())
        dkimpy_key = base64.b64encode(seed)
    else:
        assert priv.key_size == 2048
        dkimpy_key = pem
    dns = d / "dns.tsv"
    dns.write_text("%s\t%s\n" % (KEYNAME, txt))
    return {"alg": request.param, "pem": pem_path, "txt": txt, "dkimpy_key": dkimpy_key,
            "dns": dns}


def dnsfunc_for(txt):
    def dnsfunc(name, timeout=5):
        assert name == (KEYNAME + ".").encode(), name
        return txt.encode()
    return dnsfunc


def raven_sign(key, msg, chunk=0):
    args = [DKIMTOOL, "sign", "-k", str(key["pem"]), "-d", DOMAIN, "-s", SELECTOR,
            "-t", str(NOW)]
    if chunk:
        args += ["-c", str(chunk)]
    out = subprocess.run(args, input=msg, check=True, capture_output=True).stdout
    assert out.endswith(msg)
    return out


def raven_verify(key, msg, chunk=0):
    # the real clock: dkimpy stamps t= with it
    args = [DKIMTOOL, "verify", "-D", str(key["dns"]), "-t", str(int(time.time()))]
    if chunk:
        args += ["-c", str(chunk)]
    r = subprocess.run(args, input=msg, capture_output=True)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode == 0, r.stdout.decode()


def tamper(msg):
    head, body = msg.split(b"\r\n\r\n", 1)
    return head + b"\r\n\r\n" + body + b"P.S. added in transit\r\n"


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_raven_signs_dkimpy_verifies(key, name):
    msg = MESSAGES[name]
    signed = raven_sign(key, msg)
    assert signed == raven_sign(key, msg, chunk=1)  # streaming signs the same
    assert b"a=%s-sha256;" % key["alg"].encode() in signed
    assert dkim.verify(signed, dnsfunc=dnsfunc_for(key["txt"]))
    assert not dkim.verify(tamper(signed), dnsfunc=dnsfunc_for(key["txt"]))
    # and Raven agrees with itself, whole and byte by byte
    assert raven_verify(key, signed)[0]
    assert raven_verify(key, signed, chunk=1)[0]


@pytest.mark.parametrize("name", sorted(MESSAGES))
@pytest.mark.parametrize("canon", [(b"relaxed", b"relaxed"), (b"simple", b"simple"),
                                   (b"relaxed", b"simple"), (b"simple", b"relaxed")])
def test_dkimpy_signs_raven_verifies(key, name, canon):
    msg = MESSAGES[name]
    sig = dkim.sign(msg, SELECTOR.encode(), DOMAIN.encode(), key["dkimpy_key"],
                    canonicalize=canon, signature_algorithm=("%s-sha256" % key["alg"]).encode())
    signed = sig + msg
    assert dkim.verify(signed, dnsfunc=dnsfunc_for(key["txt"]))  # dkimpy's own check
    ok, out = raven_verify(key, signed)
    assert ok, out
    assert raven_verify(key, signed, chunk=1) == (ok, out)
    assert out.startswith("pass d=%s " % DOMAIN)
    ok, out = raven_verify(key, tamper(signed))
    assert not ok
    assert out.startswith("fail ") and "body hash did not verify" in out


def test_dkimpy_length_tag(key):
    """l=: dkimpy signs the body length; text added after it still verifies."""
    msg = MESSAGES["plain"]
    sig = dkim.sign(msg, SELECTOR.encode(), DOMAIN.encode(), key["dkimpy_key"], length=True,
                    signature_algorithm=("%s-sha256" % key["alg"]).encode())
    assert b"l=" in sig
    ok, out = raven_verify(key, sig + msg + b"appended below the signed length\r\n")
    assert ok, out


def test_header_tampering_fails_in_both(key):
    msg = MESSAGES["plain"]
    for signed in (raven_sign(key, msg),
                   dkim.sign(msg, SELECTOR.encode(), DOMAIN.encode(), key["dkimpy_key"],
                             signature_algorithm=("%s-sha256" % key["alg"]).encode()) + msg):
        bad = signed.replace(b"Subject: hello", b"Subject: HELLO")
        assert bad != signed
        assert not dkim.verify(bad, dnsfunc=dnsfunc_for(key["txt"]))
        ok, out = raven_verify(key, bad)
        assert not ok and out.startswith("fail ")
