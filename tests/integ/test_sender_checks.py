"""The sender checks end to end (issue 11): the real ravend with DNSBL, SPF,
DKIM verification and DMARC on, its resolver role pointed at the fake DNS
server. Clients come from 127.0.0.x, which the configuration does not count
as local (the checks skip local and authenticated clients). Messages are
signed with dkimpy (python3-dkim), a verifier nobody here wrote, and every
verdict must show in the one Authentication-Results header at the top of the
delivered message."""

import base64
import email

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import raven as rv

NOT_LOCAL = ("10.255.255.0/24",)  # loopback clients are not "local" here
SENDER_DOMAIN = "sender.test"


def start(factory, fakedns, **checks):
    extra = rv.checks_config(fakedns.port, **checks)
    return factory(local_networks=NOT_LOCAL, extra=extra, per_ip=20)


def transaction(raven, msg, frm="someone@%s" % SENDER_DOMAIN, source="127.0.0.1",
                rcpt="alice@example.org"):
    """One transaction; returns (MAIL reply, final reply or None)."""
    with rv.session(raven.port, source=source) as s:
        r = s.cmd("MAIL FROM:<%s>" % frm)
        if r.code != 250:
            return r, None
        assert s.cmd("RCPT TO:<%s>" % rcpt).code == 250
        assert s.cmd("DATA").code == 354
        s.send(rv.dot_stuff_crlf(msg))
        s.send(b".\r\n")
        return r, s.reply()


def message(token, frm="someone@%s" % SENDER_DOMAIN, extra_headers=()):
    return rv.make_message(token, frm=frm, extra_headers=extra_headers).replace(
        "\n", "\r\n").encode()


def authres(raven, token):
    """The Authentication-Results fields of the delivered message, unfolded."""
    raw = raven.wait_for("alice", token)[0]
    msg = email.message_from_bytes(raw)
    return [" ".join(str(v).split()) for v in msg.get_all("Authentication-Results", [])], raw


# --- DNSBL -------------------------------------------------------------------

def test_dnsbl_listed_refused_allowed_passes(factory, fakedns):
    fakedns.add("2.0.0.127.bl.test", "A", "127.0.0.2")  # 127.0.0.2 is listed
    fakedns.add("3.0.0.127.bl.test", "A", "127.0.0.2")  # so is .3, but allow-listed
    raven = start(factory, fakedns, dnsbl=[("bl.test", "reject")],
                  dnsbl_allow=["127.0.0.3/32"])
    r, _ = transaction(raven, message("x"), source="127.0.0.2")
    assert r.code == 554 and r.enh == "5.7.1" and "listed at bl.test" in r.text, r
    token = rv.unique("bl")
    r, final = transaction(raven, message(token), source="127.0.0.3")
    assert r.code == 250 and final.code == 250, (r, final)
    fields, _ = authres(raven, token)
    assert len(fields) <= 1 and not any("dnsbl" in f for f in fields), fields
    # a client not listed: looked up, passes, recorded
    token = rv.unique("bl")
    r, final = transaction(raven, message(token), source="127.0.0.4")
    assert final.code == 250, final
    fields, _ = authres(raven, token)
    assert len(fields) == 1 and "x-dnsbl=pass" in fields[0], fields
    assert fakedns.count("4.0.0.127.bl.test", "A") == 1
    assert fakedns.count("3.0.0.127.bl.test", "A") == 0


def test_dnsbl_tag_codes_and_refusal_by_list(factory, fakedns):
    fakedns.add("2.0.0.127.tag.test", "A", "127.0.0.2")
    fakedns.add("2.0.0.127.codes.test", "A", "127.0.0.20")  # outside its codes
    fakedns.add("2.0.0.127.refuses.test", "A", "127.255.255.254")
    raven = start(factory, fakedns, dnsbl=[("tag.test", "tag"),
                                           ("codes.test", "reject", ["127.0.0.2-127.0.0.11"]),
                                           ("refuses.test", "reject")])
    token = rv.unique("tag")
    r, final = transaction(raven, message(token), source="127.0.0.2")
    assert r.code == 250 and final.code == 250, (r, final)
    fields, _ = authres(raven, token)
    assert len(fields) == 1, fields
    assert "x-dnsbl=fail" in fields[0] and "tag.test" in fields[0], fields
    rv.wait_log(raven, "dnsbl-refused", zone="refuses.test")


def test_dnsbl_timeout_fails_open(factory, fakedns):
    fakedns.timeout("2.0.0.127.slow.test")
    raven = start(factory, fakedns, dnsbl=[("slow.test", "reject")])
    token = rv.unique("slow")
    r, final = transaction(raven, message(token), source="127.0.0.2")
    assert r.code == 250 and final.code == 250, (r, final)
    rv.wait_log(raven, "dnsbl-error", zone="slow.test")


# --- SPF ---------------------------------------------------------------------

@pytest.mark.parametrize("record,result", [
    ("v=spf1 ip4:127.0.0.0/24 -all", "pass"),
    ("v=spf1 ip4:192.0.2.1 ~all", "softfail"),
])
def test_spf_recorded(factory, fakedns, record, result):
    fakedns.add(SENDER_DOMAIN, "TXT", record)
    raven = start(factory, fakedns, spf="reject")
    token = rv.unique("spf")
    r, final = transaction(raven, message(token))
    assert r.code == 250 and final.code == 250, (r, final)
    fields, _ = authres(raven, token)
    assert len(fields) == 1, fields
    assert fields[0].startswith(rv.HOSTNAME + ";"), fields
    assert "spf=%s" % result in fields[0], fields
    assert "smtp.mailfrom=someone@%s" % SENDER_DOMAIN in fields[0], fields


def test_spf_fail_refused_and_temperror(factory, fakedns):
    fakedns.add(SENDER_DOMAIN, "TXT", "v=spf1 ip4:192.0.2.1 -all")
    fakedns.servfail("broken.test", "TXT")
    raven = start(factory, fakedns, spf="reject")
    r, _ = transaction(raven, message("x"))
    assert r.code == 550 and r.enh == "5.7.23", r
    r, _ = transaction(raven, message("x"), frm="a@broken.test")
    assert r.code == 451 and r.enh == "4.7.24", r


def test_spf_fail_tagged_only(factory, fakedns):
    fakedns.add(SENDER_DOMAIN, "TXT", "v=spf1 ip4:192.0.2.1 -all")
    raven = start(factory, fakedns, spf="tag")
    token = rv.unique("spf")
    r, final = transaction(raven, message(token))
    assert r.code == 250 and final.code == 250, (r, final)
    fields, _ = authres(raven, token)
    assert "spf=fail" in fields[0], fields


# --- DKIM and DMARC ----------------------------------------------------------

@pytest.fixture(scope="module")
def rsa_key():
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    pub = k.public_key().public_bytes(serialization.Encoding.DER,
                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    txt = "v=DKIM1; k=rsa; p=" + base64.b64encode(pub).decode()
    return pem, [txt[i:i + 255] for i in range(0, len(txt), 255)]  # one record


def dkimpy_sign(msg, pem, domain=SENDER_DOMAIN, selector=b"sel"):
    sig = dkim.sign(msg, selector, domain.encode(), pem,
                    canonicalize=(b"relaxed", b"relaxed"),
                    include_headers=[b"From", b"To", b"Subject", b"Message-ID"])
    return sig + msg


def test_dkimpy_signed_verified_tampered_fails(factory, fakedns, rsa_key):
    pem, txt = rsa_key
    fakedns.add("sel._domainkey." + SENDER_DOMAIN, "TXT", txt)
    raven = start(factory, fakedns, dkim_verify=True)
    token = rv.unique("dkim")
    signed = dkimpy_sign(message(token), pem)
    r, final = transaction(raven, signed)
    assert final.code == 250, final
    fields, raw = authres(raven, token)
    assert len(fields) == 1 and "dkim=pass" in fields[0], fields
    assert "header.d=%s" % SENDER_DOMAIN in fields[0], fields
    # the header is at the top, above our Received:
    body = raw.split(b"\n", 2)[2] if raw.startswith(b"Return-Path") else raw
    assert body.startswith(b"Authentication-Results:"), raw[:400]

    token = rv.unique("dkim")
    signed = dkimpy_sign(message(token), pem).replace(b"this is message", b"this was message")
    r, final = transaction(raven, signed)
    assert final.code == 250, final
    fields, _ = authres(raven, token)
    assert len(fields) == 1 and "dkim=fail" in fields[0], fields


def test_dmarc_reject_spoofed_from(factory, fakedns, rsa_key):
    pem, txt = rsa_key
    fakedns.add("_dmarc.bank.test", "TXT", "v=DMARC1; p=reject")
    fakedns.add("bank.test", "TXT", "v=spf1 ip4:192.0.2.1 -all")
    fakedns.add(SENDER_DOMAIN, "TXT", "v=spf1 ip4:127.0.0.0/8 -all")
    fakedns.add("sel._domainkey." + SENDER_DOMAIN, "TXT", txt)
    raven = start(factory, fakedns, spf="reject", dmarc="reject", dkim_verify=True)
    # From: bank.test, envelope and signature from sender.test: not aligned
    spoof = dkimpy_sign(message("x", frm="ceo@bank.test"), pem)
    r, final = transaction(raven, spoof)
    assert r.code == 250 and final.code == 550 and final.enh == "5.7.1", (r, final)
    assert "DMARC" in final.text, final
    # the same sender's own mail passes DMARC (SPF and DKIM aligned)
    fakedns.add("_dmarc." + SENDER_DOMAIN, "TXT", "v=DMARC1; p=reject")
    token = rv.unique("dmarc")
    r, final = transaction(raven, dkimpy_sign(message(token), pem))
    assert final.code == 250, final
    fields, _ = authres(raven, token)
    assert len(fields) == 1, fields
    for want in ("spf=pass", "dkim=pass", "dmarc=pass", "header.from=" + SENDER_DOMAIN):
        assert want in fields[0], fields


def test_dmarc_quarantine_delivered_with_header(factory, fakedns):
    fakedns.add("_dmarc.bank.test", "TXT", "v=DMARC1; p=quarantine")
    raven = start(factory, fakedns, dmarc="reject")
    token = rv.unique("q")
    r, final = transaction(raven, message(token, frm="ceo@bank.test"))
    assert final.code == 250, final
    fields, raw = authres(raven, token)
    assert "dmarc=fail" in fields[0], fields
    assert b"X-Raven-Quarantine:" in raw


def test_our_authres_removed_others_kept(factory, fakedns):
    raven = start(factory, fakedns, spf="tag")
    token = rv.unique("ar")
    forged = "Authentication-Results: %s; spf=pass smtp.mailfrom=x@y" % rv.HOSTNAME
    theirs = "Authentication-Results: other.example; spf=pass smtp.mailfrom=x@y"
    r, final = transaction(raven, message(token, extra_headers=[forged, theirs]))
    assert final.code == 250, final
    fields, raw = authres(raven, token)
    assert len(fields) == 2, fields
    assert fields[0].startswith(rv.HOSTNAME + ";") and "spf=none" in fields[0], fields
    assert fields[1].startswith("other.example;"), fields
