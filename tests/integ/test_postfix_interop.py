"""Raven behind a real Postfix: a private Postfix (postfix_peer.py) relays
everything to Raven, as a smarthost or an MX's front end would.

Postfix 3.7 passes every recipient on with an ORCPT, xtext-encoded; for an
SMTPUTF8 recipient that is "ORCPT=rfc822;pf-bj+C3+B8rn@localhost". Raven
once answered it with 501 and Postfix bounced the mail: these tests send
through Postfix and check that the mail arrives byte for byte, that Postfix
logs status=sent and bounces nothing, and that Raven's own DSNs show the
original recipient Postfix passed on.
"""

import re

import raven as rv

UTF8_USER = "pf-bjørn"


def strip_trace(raw):
    """A delivered file without what the hops add in front: Return-Path,
    Delivered-To, then every Received: (Raven's and Postfix's, folded)."""
    _, raw = rv.delivery_headers(raw)
    lines = raw.split(b"\n")
    i = 0
    while i < len(lines) and lines[i].startswith(b"Received:"):
        i += 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            i += 1
    assert i >= 2, "expected Raven's and Postfix's Received: headers:\n%r" % raw[:600]
    return b"\n".join(lines[i:])


def final_status(pf, rcpt):
    """Wait for Postfix's final word on rcpt; returns (status, Raven's queue id or None)."""
    pat = r"to=<%s>.*status=(sent|bounced|deferred|expired)" % re.escape(rcpt)
    line = pf.wait_log(pat)[0]
    status = re.search(pat, line).group(1)
    m = re.search(r"queued as (\w+)", line)
    return status, line, (m.group(1) if m else None)


def raven_behind_postfix(factory, postfix_peer):
    raven = factory(start=False)
    with open(raven.root + "/users", "a", encoding="utf-8") as f:
        f.write(UTF8_USER + "\n")
    raven.start()
    pf = postfix_peer(relayhost="[127.0.0.1]:%d" % raven.port)
    return raven, pf


def test_smtputf8_recipient_relayed_by_postfix(factory, postfix_peer):
    raven, pf = raven_behind_postfix(factory, postfix_peer)
    token = rv.unique("pf-utf8")
    rcpt = UTF8_USER + "@localhost"
    msg = ("From: Carol <carol@localhost>\n"
           "To: Bjørn <%s>\n"
           "Subject: grüße %s\n"
           "Date: Thu, 01 Jan 2026 00:00:00 +0000\n"
           "Message-ID: <%s@test>\n"
           "MIME-Version: 1.0\n"
           "Content-Type: text/plain; charset=utf-8\n"
           "Content-Transfer-Encoding: 8bit\n"
           "\n"
           "Hej Bjørn, ünïcödé body of %s.\n"
           ".a line starting with a dot\n"
           "\n"
           "-- \n"
           "the tests\n" % (rcpt, token, token, token)).encode("utf-8")
    pf.submit("carol@localhost", [rcpt], msg, mail_options=["SMTPUTF8", "BODY=8BITMIME"],
              rcpt_options=["NOTIFY=SUCCESS,FAILURE"])

    status, line, qid = final_status(pf, rcpt)
    assert status == "sent", "Postfix did not deliver to Raven:\n%s" % line
    got = raven.wait_for(UTF8_USER, token)
    assert len(got) == 1
    heads, _ = rv.delivery_headers(got[0])
    assert heads[b"Delivered-To"] == rcpt.encode("utf-8"), heads
    assert strip_trace(got[0]) == rv.normalize(msg)

    # Postfix's ORCPT was kept, and Raven's success notice shows it decoded
    assert qid, line
    dsn = raven.wait_for("carol", "X-Raven-Queue-ID: " + qid)
    assert b"Original-Recipient: utf-8; pf-bj\xc3\xb8rn@localhost" in dsn[0], dsn[0][:3000]
    assert b"Action: delivered" in dsn[0]
    assert not rv.log_events(raven, "orcpt-ignored")
    assert not pf.deferred_or_bounced(), pf.log_tail()
    assert not pf.log_lines(r"postfix/bounce\["), pf.log_tail()


def test_ascii_recipient_with_dsn_options_relayed_by_postfix(factory, postfix_peer):
    raven, pf = raven_behind_postfix(factory, postfix_peer)
    token = rv.unique("pf-ascii")
    envid = "pf-" + token.replace("-", "")
    msg = rv.make_message(token, to="alice@localhost", frm="carol@localhost")
    pf.submit("carol@localhost", ["alice@localhost"], msg,
              mail_options=["ENVID=" + envid, "RET=HDRS"],
              rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;Alice+2Boriginal@localhost"])

    status, line, qid = final_status(pf, "alice@localhost")
    assert status == "sent", "Postfix did not deliver to Raven:\n%s" % line
    got = raven.wait_for("alice", token)
    assert len(got) == 1
    assert strip_trace(got[0]) == rv.normalize(msg)

    # the ORCPT and ENVID the client gave Postfix come back in Raven's DSN
    dsns = rv.wait_dsn(raven, "carol", qid, "delivered")
    _, per_msg, per_rcpt, _ = dsns[0]
    assert rv.dsn_field(per_msg, "Original-Envelope-Id") == envid, str(per_msg)
    assert rv.dsn_field(per_rcpt[0], "Original-Recipient") == \
        "rfc822; Alice+original@localhost", str(per_rcpt[0])
    assert not rv.log_events(raven, "orcpt-ignored")
    assert not rv.log_events(raven, "envid-ignored")
    assert not pf.deferred_or_bounced(), pf.log_tail()
    assert not pf.log_lines(r"postfix/bounce\["), pf.log_tail()
