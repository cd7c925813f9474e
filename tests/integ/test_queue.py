"""The queue: temporary failures are retried with backoff and delivered once
the mailbox works again, permanent and expired failures come back to the
sender as RFC 3464 DSNs (with the RFC 3461 NOTIFY/RET/ENVID/ORCPT options),
a DSN that fails is never bounced, and the retry state survives a restart.

Mailboxes are broken on purpose: a regular file where the Maildir should be
is a permanent failure, a Maildir with mode 000 a temporary one (EACCES for
the delivery process, whose fsuid is the daemon user even when run as root).
"""

import os
import time

import raven as rv

SENDER = "alice@example.org"  # a local mailbox, so that DSNs can arrive


def start(factory, **queue):
    """A ravend with a short retry schedule (rv.queue_config keywords)."""
    return factory(extra=[rv.queue_config(**queue)])


def send(raven, token, rcpt, frm=SENDER, **kw):
    return rv.sendmail(raven.port, frm, [rcpt], rv.make_message(token, to=rcpt), **kw)


def env_exists(raven, qid):
    return qid in raven.queue_files("env")


def test_temporary_failure_retried_then_delivered_once(factory):
    raven = factory(start=False, extra=[rv.queue_config(lifetime="30s")])
    rv.maildir_locked(raven, "carol")
    raven.start()
    token = rv.unique("tempfail")
    qid = send(raven, token, "carol@example.org")
    deferred = rv.wait_log(raven, "deferred", count=4, timeout=12, id=qid)
    # backoff: attempts count up; retry-min 1s, doubled, capped at retry-max
    # 2s (each ±10%; an uncapped third retry would come after ~4s)
    assert [d["attempts"] for d in deferred[:4]] == ["1", "2", "3", "4"], deferred
    t = [d["_time"] for d in deferred[:4]]
    gaps = [b - a for a, b in zip(t, t[1:])]
    assert 0.85 <= gaps[0] <= 2.0, "first retry after %.2fs, not ~1s" % gaps[0]
    assert 1.75 <= gaps[1] <= 3.2, "second retry after %.2fs, not ~2s" % gaps[1]
    assert 1.75 <= gaps[2] <= 3.2, "third retry after %.2fs, not capped at ~2s" % gaps[2]
    assert all("Permission denied" in d.get("text", "") for d in deferred), deferred
    assert raven.find("carol", token) == []
    assert env_exists(raven, qid)
    assert not rv.log_events(raven, "failed", id=qid)

    rv.maildir_unlock(raven, "carol")
    rv.wait_log(raven, "delivered", id=qid, timeout=6)
    msgs = raven.wait_for("carol", token)
    raven.wait_queue_empty()
    time.sleep(0.5)
    assert len(raven.find("carol", token)) == 1
    assert rv.count_message_id(raven, token) == 1
    _, rest = rv.split_received(msgs[0])
    assert rest == rv.normalize(rv.make_message(token, to="carol@example.org"))
    rv.wait_log(raven, "removed", id=qid, timeout=2)
    # delay-warning is off and nothing failed: the sender hears nothing
    assert raven.messages("alice") == []
    assert not rv.log_events(raven, "dsn-queued", id=qid)


def test_permanent_failure_bounces_to_sender(factory):
    raven = factory(start=False, extra=[rv.queue_config()])
    rv.mailbox_is_file(raven, "bob")
    raven.start()
    token = rv.unique("permfail")
    subject = "Permanent subject " + token
    qid = rv.sendmail(raven.port, SENDER, ["bob@example.org"],
                      rv.make_message(token, to="bob@example.org", subject=subject))
    failed = rv.wait_log(raven, "failed", id=qid)
    assert failed[0]["attempts"] == "1", "a permanent failure must not be retried: %s" % failed
    queued = rv.wait_log(raven, "dsn-queued", id=qid)
    assert queued[0]["kind"] == "failure" and queued[0]["to"] == SENDER, queued
    dsn = rv.wait_dsn(raven, "alice", qid, "failed")
    msg, per_msg, per_rcpt, third = dsn[0]
    assert rv.dsn_field(per_msg, "Reporting-MTA") == "dns; " + rv.HOSTNAME
    assert per_msg.get("Arrival-Date")
    assert len(per_rcpt) == 1
    r = per_rcpt[0]
    assert rv.dsn_field(r, "Final-Recipient").lower() == "rfc822; bob@example.org", str(r)
    assert rv.dsn_field(r, "Action") == "failed"
    # the code the Maildir failure carries (5.2.0: mailbox status), not a bare 5.0.0
    assert rv.dsn_field(r, "Status") == "5.2.0", rv.dsn_field(r, "Status")
    assert "Not a directory" in rv.dsn_field(r, "Diagnostic-Code")
    assert r.get("Last-Attempt-Date")
    assert r.get("Will-Retry-Until") is None
    assert r.get("Original-Recipient") is None  # no ORCPT was given
    # RET absent: the headers only
    assert third is not None and third.get_content_type() == "text/rfc822-headers"
    hdrs = third.get_payload(decode=True) or third.get_content().encode()
    assert ("Subject: " + subject).encode() in hdrs
    assert b"this is message" not in hdrs, "the body leaked into text/rfc822-headers"
    # the DSN comes from <> to the sender, and the original left the spool
    assert msg["To"] and SENDER in msg["To"]
    assert "Auto-Submitted" in msg and msg["Auto-Submitted"].startswith("auto-")
    raven.wait_queue_empty()
    time.sleep(0.3)
    assert len(rv.dsns_for(raven, "alice", qid)) == 1
    assert rv.log_events(raven, "removed", id=qid)
    assert not raven.find("bob", token) and os.path.isfile(raven.maildir("bob"))


def test_expired_message_bounced_with_447(factory):
    raven = factory(start=False,
                    extra=[rv.queue_config(retry_min="1s", retry_max="1s", lifetime="3s")])
    rv.maildir_locked(raven, "carol")
    raven.start()
    token = rv.unique("expire")
    qid = send(raven, token, "carol@example.org")
    committed = rv.wait_log(raven, "committed", id=qid)
    rv.wait_log(raven, "deferred", id=qid)
    failed = rv.wait_log(raven, "failed", id=qid, timeout=10)
    age = failed[0]["_time"] - committed[0]["_time"]
    assert age >= 2.9, "given up after %.2fs, before the 3s lifetime" % age
    assert int(failed[0]["attempts"]) >= 2, failed
    dsn = rv.wait_dsn(raven, "alice", qid, "failed")
    _, _, per_rcpt, third = dsn[0]
    r = per_rcpt[0]
    assert rv.dsn_field(r, "Final-Recipient").lower() == "rfc822; carol@example.org"
    assert rv.dsn_field(r, "Status") == "4.4.7", str(r)
    assert "Permission denied" in rv.dsn_field(r, "Diagnostic-Code")
    assert third is not None and third.get_content_type() == "text/rfc822-headers"
    raven.wait_queue_empty()
    # gone for good: fixing the mailbox now delivers nothing
    rv.maildir_unlock(raven, "carol")
    raven.assert_not_delivered(token, users=["carol"], settle=1.5)


def test_failed_dsn_is_not_bounced(factory):
    raven = factory(start=False, extra=[rv.queue_config()])
    rv.mailbox_is_file(raven, "bob")
    rv.mailbox_is_file(raven, "alice")  # the sender's mailbox is broken too
    raven.start()
    token = rv.unique("dsnloop")
    qid = send(raven, token, "bob@example.org")
    rv.wait_log(raven, "failed", id=qid)
    queued = rv.wait_log(raven, "dsn-queued", id=qid)
    dsn_id = queued[0]["dsn_id"]
    assert dsn_id != qid
    rv.wait_log(raven, "failed", id=dsn_id)
    dropped = rv.wait_log(raven, "dsn-dropped", id=dsn_id)
    assert dropped[0]["reason"] == "null sender", dropped
    raven.wait_queue_empty()
    time.sleep(1.0)
    assert not rv.log_events(raven, "dsn-queued", id=dsn_id), "a DSN was bounced"
    assert len(rv.log_events(raven, "dsn-queued")) == 1, rv.log_events(raven, "dsn-queued")
    assert rv.log_events(raven, "removed", id=qid) and rv.log_events(raven, "removed", id=dsn_id)
    assert raven.queue_files("env") == [] and raven.queue_files("data") == []
    assert raven.proc.poll() is None


def test_delay_warning_then_delivery(factory):
    raven = factory(start=False, extra=[rv.queue_config(lifetime="60s", delay_warning="2s")])
    rv.maildir_locked(raven, "carol")
    raven.start()
    token = rv.unique("delay")
    qid = send(raven, token, "carol@example.org")
    dsn = rv.wait_dsn(raven, "alice", qid, "delayed", timeout=8)
    # the warning arrived while the message is still queued
    assert env_exists(raven, qid), "the message left the queue before it was delivered"
    _, per_msg, per_rcpt, third = dsn[0]
    r = per_rcpt[0]
    assert rv.dsn_field(r, "Final-Recipient").lower() == "rfc822; carol@example.org"
    assert rv.dsn_field(r, "Status") == "4.2.0", str(r)  # EACCES on the mailbox
    assert r.get("Will-Retry-Until"), "a delay DSN says until when it retries"
    assert third is not None and third.get_content_type() == "text/rfc822-headers"
    queued = rv.log_events(raven, "dsn-queued", id=qid)
    assert queued and all(q["kind"] == "delay" for q in queued), queued

    rv.maildir_unlock(raven, "carol")
    raven.wait_for("carol", token, timeout=6)
    raven.wait_queue_empty()
    time.sleep(0.5)
    assert rv.count_message_id(raven, token) == 1
    # delivered after a delay: no failure DSN, no success DSN (none asked for)
    actions = [rv.dsn_field(x, "Action") for d in rv.dsns_for(raven, "alice", qid) for x in d[2]]
    assert set(actions) == {"delayed"}, actions


def test_notify_success(factory):
    raven = start(factory)
    token = rv.unique("notify-ok")
    qid = send(raven, token, "dave@example.org", rcpt_options=["NOTIFY=SUCCESS"])
    raven.wait_for("dave", token)
    dsn = rv.wait_dsn(raven, "alice", qid, "delivered")
    _, _, per_rcpt, _ = dsn[0]
    r = per_rcpt[0]
    assert rv.dsn_field(r, "Final-Recipient").lower() == "rfc822; dave@example.org"
    assert rv.dsn_field(r, "Status").startswith("2."), str(r)
    assert rv.log_events(raven, "dsn-queued", id=qid, kind="success")
    raven.wait_queue_empty()
    time.sleep(0.3)
    assert len(rv.dsns_for(raven, "alice", qid)) == 1


def test_no_notify_no_success_dsn(factory):
    raven = start(factory)
    token = rv.unique("notify-default")
    qid = send(raven, token, "dave@example.org")
    raven.wait_for("dave", token)
    raven.wait_queue_empty()
    time.sleep(0.5)
    assert rv.dsns_for(raven, "alice", qid) == []
    assert not rv.log_events(raven, "dsn-queued", id=qid)


def test_notify_never_no_dsn_on_failure(factory):
    raven = factory(start=False, extra=[rv.queue_config()])
    rv.mailbox_is_file(raven, "bob")
    raven.start()
    token = rv.unique("notify-never")
    qid = send(raven, token, "bob@example.org", rcpt_options=["NOTIFY=NEVER"])
    rv.wait_log(raven, "failed", id=qid)
    raven.wait_queue_empty()
    time.sleep(1.0)
    assert not rv.log_events(raven, "dsn-queued", id=qid)
    assert raven.messages("alice") == []


def test_ret_full_envid_orcpt(factory):
    raven = factory(start=False, extra=[rv.queue_config()])
    rv.mailbox_is_file(raven, "bob")
    raven.start()
    token = rv.unique("retfull")
    envid = "env-" + token.replace("-", "")
    body = "Full body line one %s\nline two\n" % token
    msg = rv.make_message(token, to="bob@example.org", body=body)
    qid = rv.sendmail(raven.port, SENDER, ["bob@example.org"], msg,
                      mail_options=["RET=FULL", "ENVID=" + envid],
                      rcpt_options=["NOTIFY=FAILURE", "ORCPT=rfc822;original-bob@example.org"])
    dsn = rv.wait_dsn(raven, "alice", qid, "failed")
    _, per_msg, per_rcpt, third = dsn[0]
    assert rv.dsn_field(per_msg, "Original-Envelope-Id") == envid, str(per_msg)
    r = per_rcpt[0]
    assert rv.dsn_field(r, "Original-Recipient").lower() == \
        "rfc822; original-bob@example.org", str(r)
    assert rv.dsn_field(r, "Final-Recipient").lower() == "rfc822; bob@example.org"
    assert third is not None and third.get_content_type() == "message/rfc822"
    inner = third.get_payload()[0]
    assert inner["Message-ID"] == "<%s@test>" % token
    # the line break before the closing boundary belongs to the boundary
    # (RFC 2046 5.1.1), so the attached copy's last line has none
    assert inner.get_content().replace("\r\n", "\n").rstrip("\n") == body.rstrip("\n")


def test_ret_hdrs_and_no_envid(factory):
    raven = factory(start=False, extra=[rv.queue_config()])
    rv.mailbox_is_file(raven, "bob")
    raven.start()
    token = rv.unique("rethdrs")
    qid = send(raven, token, "bob@example.org", mail_options=["RET=HDRS"])
    dsn = rv.wait_dsn(raven, "alice", qid, "failed")
    _, per_msg, _, third = dsn[0]
    assert per_msg.get("Original-Envelope-Id") is None
    assert third is not None and third.get_content_type() == "text/rfc822-headers"


def test_restart_during_deferral_keeps_state(factory):
    raven = factory(start=False, extra=[rv.queue_config(lifetime="60s")])
    rv.maildir_locked(raven, "carol")
    raven.start()
    token = rv.unique("restart")
    qid = send(raven, token, "carol@example.org")
    rv.wait_log(raven, "deferred", count=2, id=qid)
    assert raven.stop() == 0
    before = rv.log_events(raven, "deferred", id=qid)
    attempts = max(int(d["attempts"]) for d in before)
    assert attempts >= 2
    assert env_exists(raven, qid), "the deferred message is not in the spool after SIGTERM"
    raven.start()
    rv.wait_log(raven, "recovered", id=qid)
    # still failing: the count goes on where it stopped
    after = rv.wait_log(raven, "deferred", count=len(before) + 1, id=qid, timeout=8)
    assert int(after[len(before)]["attempts"]) == attempts + 1, after[len(before):]
    rv.maildir_unlock(raven, "carol")
    done = rv.wait_log(raven, "delivered", id=qid, timeout=6)
    assert int(done[0]["attempts"]) >= attempts + 2, done
    raven.wait_for("carol", token)
    raven.wait_queue_empty()
    time.sleep(0.3)
    assert rv.count_message_id(raven, token) == 1


def test_dsn_to_remote_sender_waits_in_the_queue(factory, fakedns):
    """The sender is elsewhere and its domain's DNS fails for now: the DSN
    is queued for the relay transport to that domain and retried as a
    deferred recipient (visible to ravenctl, with the reason) until its
    lifetime ends; then, being a bounce, it is dropped, not bounced."""
    import test_ravenctl as ctl
    fakedns.servfail("remote.test")
    raven = factory(start=False, extra=[rv.queue_config(lifetime="5s"),
                                        'resolver "127.0.0.1" port %d' % fakedns.port])
    rv.mailbox_is_file(raven, "bob")
    raven.start()
    token = rv.unique("remote-sender")
    qid = send(raven, token, "bob@example.org", frm="Someone@Remote.TEST")
    rv.wait_log(raven, "failed", id=qid)
    queued = rv.wait_log(raven, "dsn-queued", id=qid)
    assert queued[0]["kind"] == "failure" and queued[0]["to"] == "Someone@Remote.TEST", queued
    assert queued[0]["transport"] == "relay" and queued[0]["nexthop"] == "remote.test", queued
    dsn_id = queued[0]["dsn_id"]
    deferred = rv.wait_log(raven, "deferred", id=dsn_id)
    assert "4.4.3" in deferred[0]["text"] and "remote.test" in deferred[0]["text"], deferred
    listing = ctl.ctl_json(raven, "queue")["messages"]
    [m] = [m for m in listing if m["id"] == dsn_id]
    assert m["sender"] == ""
    [r] = m["recipients"]
    assert r["address"] == "Someone@Remote.TEST" and r["state"] == "deferred", r
    assert "MX lookup of remote.test failed" in r["last_error"], r
    # the notice itself is a multipart/report naming bob
    with open(os.path.join(raven.queue, "data", dsn_id), "rb") as f:
        report = f.read()
    assert b"multipart/report" in report and b"bob@example.org" in report
    # expired: failed, then dropped (a bounce never bounces)
    rv.wait_log(raven, "failed", id=dsn_id, timeout=15)
    rv.wait_log(raven, "removed", id=dsn_id, timeout=5)
    raven.wait_queue_empty()
    assert len(rv.log_events(raven, "dsn-queued")) == 1
    assert raven.proc.poll() is None


def test_mixed_outcomes_in_one_message(factory):
    """One message, three recipients: delivered, failed, deferred. The
    failure DSN names only the failed one; the message stays queued for the
    deferred one, which is delivered later; no second DSN."""
    raven = factory(start=False, extra=[rv.queue_config(lifetime="60s")])
    rv.mailbox_is_file(raven, "bob")
    rv.maildir_locked(raven, "carol")
    raven.start()
    token = rv.unique("mixed")
    rcpts = ["dave@example.org", "bob@example.org", "carol@example.org"]
    qid = rv.sendmail(raven.port, SENDER, rcpts, rv.make_message(token, to=rcpts[0]))
    raven.wait_for("dave", token)
    rv.wait_log(raven, "failed", id=qid)
    rv.wait_log(raven, "deferred", id=qid)
    dsn = rv.wait_dsn(raven, "alice", qid, "failed")
    _, _, per_rcpt, _ = dsn[0]
    assert [rv.dsn_field(r, "Final-Recipient").lower() for r in per_rcpt] == [
        "rfc822; bob@example.org"]
    assert qid in raven.queue_files("env")  # carol is still owed the message
    rv.maildir_unlock(raven, "carol")
    raven.wait_for("carol", token)
    raven.wait_queue_empty()
    time.sleep(0.3)
    assert len(raven.find("dave", token)) == 1 and len(raven.find("carol", token)) == 1
    assert len(rv.dsns_for(raven, "alice", qid)) == 1
    assert len(rv.log_events(raven, "dsn-queued", id=qid)) == 1
