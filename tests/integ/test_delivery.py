"""End-to-end delivery: real clients (smtplib, swaks) send to ravend and the
tests read the Maildir files it writes."""

import os
import random
import smtplib
import socket
import string
import subprocess
import threading
import time

import pytest

import raven as rv


def smtp_send(port, frm, rcpts, msg, mail_options=(), rcpt_options=()):
    """Send with smtplib; returns ({refused rcpt: (code, text)}, queue id).
    smtplib only fixes line ends of str messages, so send CRLF bytes."""
    msg = rv.normalize(msg).replace(b"\n", b"\r\n")
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=20) as s:
        s.ehlo()
        code, resp = s.mail(frm, list(mail_options))
        assert code == 250, (code, resp)
        refused = {}
        for r in rcpts:
            code, resp = s.rcpt(r, list(rcpt_options))
            if code != 250:
                refused[r] = (code, resp)
        assert len(refused) < len(rcpts), refused
        code, resp = s.data(msg)
        assert code == 250, (code, resp)
        assert resp.startswith(b"2.0.0"), resp
        return refused, rv.queue_id(b"250 " + resp)


def delivered_body(raven, user, token, qid=None):
    """The single delivered copy of message token for user, without Raven's
    Received header (checked for the hostname and the queue id)."""
    msgs = raven.wait_for(user, token)
    assert len(msgs) == 1, "%s got %d copies of %s" % (user, len(msgs), token)
    received, rest = rv.split_received(msgs[0])
    assert rv.HOSTNAME.encode() in received, received
    if qid is not None:
        assert qid.encode() in received, "queue id %s not in %r" % (qid, received)
    return rest


def test_smtplib_delivery_byte_identical(raven):
    token = rv.unique("basic")
    msg = rv.make_message(token, body="Line one\nLine two with trailing space \n\n\tTabbed\n"
                          "Last line\n")
    refused, qid = smtp_send(raven.port, "sender@remote.test", ["alice@example.org"], msg)
    assert not refused
    assert delivered_body(raven, "alice", token, qid) == rv.normalize(msg)
    # the file is in new/, and nobody else got it
    assert all("/new/" in p for p in raven.mail_files("alice"))
    assert raven.find("bob", token) == []
    # the log follows the message by its queue id
    assert ("id=%s" % qid) in raven.log_text()


def test_swaks_delivery(raven):
    token = rv.unique("swaks")
    body = "swaks body %s\nsecond line" % token
    p = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % raven.port,
                        "--helo", "swaks.test", "--from", "swaks@remote.test",
                        "--to", "bob@example.org", "--add-header", "X-Token: " + token,
                        "--body", body, "--timeout", "15"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "queued as" in p.stdout
    msgs = raven.wait_for("bob", token)
    assert len(msgs) == 1
    _, rest = rv.split_received(msgs[0])
    assert ("X-Token: %s\n" % token).encode() in rest
    assert (b"\n\n" + body.encode() + b"\n") in rest
    assert b"\r" not in rest


def test_swaks_whole_message_byte_identical(raven, tmp_path):
    """A whole message of swaks's --data (which dot-stuffs and sends CRLF)
    lands byte for byte, but for the line ends, after our headers."""
    token = rv.unique("swaks-data")
    msg = ("From: <swaks@remote.test>\nTo: <bob@example.org>\nSubject: whole %s\n"
           "Message-ID: <%s@remote.test>\n\n"
           ".leading dot\n..two dots\n.\n \n\ttab line  \n\n\n%s\nlast line\n"
           % (token, token, "x" * 990))
    path = tmp_path / "message.eml"
    # swaks ends the data with CRLF.CRLF itself: the file has no last newline
    path.write_bytes(msg.encode()[:-1])
    p = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % raven.port,
                        "--helo", "swaks.test", "--from", "swaks@remote.test",
                        "--to", "bob@example.org", "--data", "@" + str(path),
                        "--timeout", "15"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    msgs = raven.wait_for("bob", token)
    assert len(msgs) == 1
    _, rest = rv.split_received(msgs[0])
    assert rest == msg.encode(), (rest, msg)


def _port_busy(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def test_builtin_default_as_make_run_starts_it(factory):
    """`make run`: ravend -d without a configuration, in a fresh directory,
    serves 127.0.0.1:2525 (and [::1]:2525, submission on 2587), and mail to
    alice@localhost from smtplib lands in ./var/mail/alice/new intact. It
    runs no role it has no work for (resolver, signer, metrics, lookup)."""
    busy = [hp for hp in (("127.0.0.1", 2525), ("127.0.0.1", 2587)) if _port_busy(*hp)]
    if busy:
        pytest.skip("the built-in default's ports are taken by another program: %s" % busy)
    raven = factory(start=False, port=2525, builtin=True)
    raven.start()
    # no sender checks, no signing, no metrics, no SQL: seven processes
    roles = raven.settled_roles(("raven-smtp", "raven-queue", "raven-local", "raven-relay",
                                 "raven-auth", "raven-pickup"))
    assert not set(roles) & {"raven-dns", "raven-dkim", "raven-metrics", "raven-lookup"}, roles
    token = rv.unique("builtin")
    msg = rv.make_message(token, to="alice@localhost")
    refused, qid = smtp_send(2525, "someone@remote.test", ["alice@localhost"], msg)
    assert not refused and qid
    new = os.path.join(raven.root, "var", "mail", "alice", "new")
    rv.wait_until(lambda: os.path.isdir(new) and os.listdir(new), rv.DELIVERY_TIMEOUT,
                  what="a file in ./var/mail/alice/new")
    [name] = os.listdir(new)
    with open(os.path.join(new, name), "rb") as f:
        _, rest = rv.split_received(f.read())
    assert rest == rv.normalize(msg)
    with rv.RawSMTP(2587) as s:
        assert s.greeting().code == 220
    if socket.has_ipv6 and os.path.exists("/proc/net/if_inet6"):
        with socket.create_connection(("::1", 2525), timeout=5) as s:
            assert s.recv(512).startswith(b"220 "), "no greeting on [::1]:2525"


def test_several_recipients_one_unknown(raven):
    token = rv.unique("multi")
    msg = rv.make_message(token)
    refused, qid = smtp_send(raven.port, "sender@remote.test",
                             ["alice@example.org", "nosuchuser@example.org", "bob@localhost"],
                             msg)
    assert list(refused) == ["nosuchuser@example.org"]
    code, text = refused["nosuchuser@example.org"]
    assert code == 550 and text.startswith(b"5.1.1"), refused
    assert delivered_body(raven, "alice", token, qid) == rv.normalize(msg)
    assert delivered_body(raven, "bob", token, qid) == rv.normalize(msg)
    assert not os.path.exists(raven.maildir("nosuchuser"))


def test_alias_expands_to_several_mailboxes(raven):
    token = rv.unique("alias")
    msg = rv.make_message(token, to="team@example.org")
    refused, qid = smtp_send(raven.port, "sender@remote.test", ["team@example.org"], msg)
    assert not refused
    for user in rv.ALIASES["team"]:
        assert delivered_body(raven, user, token, qid) == rv.normalize(msg)
    assert not os.path.exists(raven.maildir("team"))
    assert raven.find("carol", token) == []


def test_alias_continuation_lines(factory):
    """aliases(5): a line that starts with white space continues the entry."""
    raven = factory(start=False)
    with open(os.path.join(raven.root, "aliases"), "a", encoding="utf-8") as f:
        f.write("staff: alice,\n   bob,\n# a comment inside\n\tdave\n")
    raven.start()
    token = rv.unique("staff")
    msg = rv.make_message(token, to="staff@example.org")
    refused, qid = smtp_send(raven.port, "sender@remote.test", ["staff@example.org"], msg)
    assert not refused
    for user in ("alice", "bob", "dave"):
        assert delivered_body(raven, user, token, qid) == rv.normalize(msg)
    assert raven.find("carol", token) == []


def test_return_path_and_delivered_to(raven):
    """Final delivery records the envelope: Return-Path (RFC 5321 4.4) and the
    mailbox address the copy went to, also through an alias and for <>."""
    token = rv.unique("rp")
    msg = rv.make_message(token, to="team@example.org")
    refused, _ = smtp_send(raven.port, "Sender@Remote.test", ["team@example.org"], msg)
    assert not refused
    for user in rv.ALIASES["team"]:
        copies = raven.wait_for(user, token)
        assert len(copies) == 1
        head, _ = rv.delivery_headers(copies[0])
        assert head[b"Return-Path"] == b"<Sender@Remote.test>", head
        assert head[b"Delivered-To"] == ("%s@example.org" % user).encode(), head
    token = rv.unique("rpnull")
    refused, _ = smtp_send(raven.port, "", ["carol@example.org"],
                           rv.make_message(token, to="carol@example.org"))
    assert not refused
    head, _ = rv.delivery_headers(raven.wait_for("carol", token)[0])
    assert head[b"Return-Path"] == b"<>", head
    assert head[b"Delivered-To"] == b"carol@example.org", head


def test_plus_tag_delivers_to_user(raven):
    token = rv.unique("tag")
    msg = rv.make_message(token, to="alice+lists@example.org")
    refused, qid = smtp_send(raven.port, "sender@remote.test", ["alice+lists@example.org"], msg)
    assert not refused
    assert delivered_body(raven, "alice", token, qid) == rv.normalize(msg)
    assert not os.path.exists(raven.maildir("alice+lists"))


def test_unknown_user_with_tag_refused(raven):
    with rv.session(raven.port) as s:
        assert s.cmd("MAIL FROM:<sender@remote.test>").code == 250
        r = s.cmd("RCPT TO:<nosuch+alice@example.org>")
        assert (r.code, r.enh) == (550, "5.1.1"), r


@pytest.mark.parametrize("rcpt", ["postmaster", "POSTMASTER@example.org",
                                  "PostMaster@localhost", "postmaster@example.org"])
def test_postmaster_always_accepted(raven, rcpt):
    token = rv.unique("pm")
    with rv.session(raven.port) as s:
        assert s.cmd("MAIL FROM:<sender@remote.test>").code == 250
        r = s.cmd("RCPT TO:<%s>" % rcpt)
        assert r.code == 250, r
        assert s.cmd("DATA").code == 354
        s.send(rv.dot_stuff_crlf(rv.make_message(token, to=rcpt)) + b".\r\n")
        r = s.reply()
        assert r.code == 250, r
    # the test aliases send postmaster to bob
    assert len(raven.wait_for("bob", token)) == 1


def test_one_megabyte_message(factory):
    raven = factory(message_size="5M")
    token = rv.unique("big")
    rnd = random.Random(1234)
    alphabet = string.ascii_letters + string.digits + "+/"
    lines = ["".join(rnd.choice(alphabet) for _ in range(76)) for _ in range(1024 * 1024 // 77)]
    body = "\n".join(lines) + "\n"
    msg = rv.make_message(token, body=body)
    assert len(msg) > 1024 * 1024
    refused, qid = smtp_send(raven.port, "sender@remote.test", ["carol@example.org"], msg,
                             mail_options=["SIZE=%d" % (len(msg) + 2 * len(lines))])
    assert not refused
    assert delivered_body(raven, "carol", token, qid) == rv.normalize(msg)


def test_dot_lines_preserved(raven):
    token = rv.unique("dots")
    body = ".\n..\n...\n.leading dot\n. space\nmiddle . dot\n..double\nend\n"
    msg = rv.make_message(token, body=body)
    refused, qid = smtp_send(raven.port, "sender@remote.test", ["alice@example.org"], msg)
    assert not refused
    got = delivered_body(raven, "alice", token, qid)
    assert got == rv.normalize(msg)
    assert b"\n.\n..\n...\n.leading dot\n" in got


def test_dot_stuffing_on_the_wire(raven):
    """Bytes chosen by hand: '..x' on the wire is '.x' in the mailbox."""
    token = rv.unique("wire")
    data = ("Message-ID: <%s@test>\r\nSubject: dots\r\n\r\n..x\r\n...\r\n.. \r\nplain\r\n"
            % token).encode()
    rr, final = rv.send_raw(raven.port, "s@remote.test", ["alice@example.org"], data)
    assert [r.code for r in rr] == [250]
    assert final.code == 250, final
    got = delivered_body(raven, "alice", token, rv.queue_id("250 " + final.text))
    assert got == ("Message-ID: <%s@test>\nSubject: dots\n\n.x\n..\n. \nplain\n" % token).encode()


def test_8bit_body(raven):
    token = rv.unique("8bit")
    body = ("Grüße aus Köln — ½ € ✓\n".encode("utf-8") + b"latin1: caf\xe9 \xff\xfe\x80\n"
            + b"ctrl: \x01\x07\x1b[0m\n")
    msg = rv.make_message(token, body="").encode() + body
    refused, qid = smtp_send(raven.port, "sender@remote.test", ["alice@example.org"], msg,
                             mail_options=["BODY=8BITMIME"])
    assert not refused
    assert delivered_body(raven, "alice", token, qid) == rv.normalize(msg)


def test_smtputf8_sender_and_header(raven):
    token = rv.unique("utf8")
    frm = "δοκιμή@παράδειγμα.δοκιμή"
    msg = rv.make_message(token, frm=frm, subject="Ünïcödé ✓ " + token).encode("utf-8")
    refused, qid = smtp_send(raven.port, frm, ["alice@example.org"], msg,
                             mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    assert not refused
    assert delivered_body(raven, "alice", token, qid) == rv.normalize(msg)


def test_smtputf8_recipient_mailbox(raven):
    token = rv.unique("utf8rcpt")
    to = "jöran@example.org"
    msg = rv.make_message(token, to=to).encode("utf-8")
    refused, qid = smtp_send(raven.port, "sender@remote.test", [to], msg,
                             mail_options=["SMTPUTF8"])
    assert not refused
    assert delivered_body(raven, "jöran", token, qid) == rv.normalize(msg)


def test_utf8_address_without_smtputf8_refused(raven):
    with rv.session(raven.port) as s:
        r = s.cmd("MAIL FROM:<δοκιμή@remote.test>")
        assert 500 <= r.code < 600, r
        assert s.cmd("MAIL FROM:<ascii@remote.test>").code == 250
        r = s.cmd("RCPT TO:<jöran@example.org>")
        assert 500 <= r.code < 600, r


def test_null_sender(raven):
    token = rv.unique("null")
    msg = rv.make_message(token, frm="MAILER-DAEMON@remote.test")
    refused, qid = smtp_send(raven.port, "", ["alice@example.org"], msg)
    assert not refused
    assert delivered_body(raven, "alice", token, qid) == rv.normalize(msg)


def test_two_transactions_one_session(raven):
    t1, t2 = rv.unique("tx1"), rv.unique("tx2")
    with rv.session(raven.port) as s:
        ids = []
        for tok, rcpt in ((t1, "alice@example.org"), (t2, "bob@example.org")):
            assert s.cmd("MAIL FROM:<s@remote.test>").code == 250
            assert s.cmd("RCPT TO:<%s>" % rcpt).code == 250
            assert s.cmd("DATA").code == 354
            s.send(rv.dot_stuff_crlf(rv.make_message(tok, to=rcpt)) + b".\r\n")
            r = s.reply()
            assert r.code == 250, r
            ids.append(rv.queue_id("250 " + r.text))
        assert s.cmd("QUIT").code == 221
    assert ids[0] != ids[1]
    raven.wait_for("alice", t1)
    raven.wait_for("bob", t2)
    assert raven.find("alice", t2) == [] and raven.find("bob", t1) == []


@pytest.mark.parametrize("rcpt", ["ALICE@example.org", "alice@EXAMPLE.ORG", "Alice@LocalHost"])
def test_case_insensitive_recipient(raven, rcpt):
    token = rv.unique("case")
    msg = rv.make_message(token, to=rcpt)
    refused, qid = smtp_send(raven.port, "sender@remote.test", [rcpt], msg)
    assert not refused
    assert delivered_body(raven, "alice", token, qid) == rv.normalize(msg)


def test_received_header_names_client(raven):
    token = rv.unique("rcvd")
    refused, qid = smtp_send(raven.port, "sender@remote.test", ["alice@example.org"],
                             rv.make_message(token))
    received, _ = rv.split_received(raven.wait_for("alice", token)[0])
    # RFC 5321 §4.4: the client's address and the EHLO name it gave
    assert b"127.0.0.1" in received, received
    assert b"client.test" in received, received
    assert b"ESMTP" in received, received
    # a date at the end, after ';'
    assert b";" in received and received.rsplit(b";", 1)[1].strip(), received


def test_empty_message(raven):
    with rv.session(raven.port) as s:
        assert s.cmd("MAIL FROM:<sender@remote.test>").code == 250
        assert s.cmd("RCPT TO:<dave@example.org>").code == 250
        assert s.cmd("DATA").code == 354
        s.send(b".\r\n")
        r = s.reply()
        assert r.code == 250, r
        qid = rv.queue_id("250 " + r.text)
    msgs = raven.wait_for("dave", qid)
    assert len(msgs) == 1
    received, rest = rv.split_received(msgs[0])
    assert rest == b"", rest


def test_many_concurrent_sessions(factory):
    """Group commit under concurrency: every acknowledged message arrives once."""
    raven = factory(per_ip=50, connections=100)
    tokens, errors = [], []
    lock = threading.Lock()

    def worker(n):
        try:
            for i in range(5):
                t = rv.unique("conc%d-%d" % (n, i))
                refused, qid = smtp_send(raven.port, "s@remote.test", ["erin@example.org"],
                                         rv.make_message(t, to="erin@example.org"))
                with lock:
                    tokens.append(t)
        except Exception as e:  # reported below
            with lock:
                errors.append(repr(e))
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    assert len(tokens) == 100
    rv.wait_until(lambda: len(raven.mail_files("erin")) >= 100, 20,
                  what="100 deliveries to erin (have %d)" % len(raven.mail_files("erin")))
    raven.wait_queue_empty()
    msgs = raven.messages("erin")
    assert len(msgs) == 100
    for t in tokens:
        assert sum(1 for m in msgs if ("<%s@test>" % t).encode() in m) == 1, t


def test_nested_alias(raven):
    token = rv.unique("nested")
    refused, qid = smtp_send(raven.port, "s@remote.test", ["nested@example.org"],
                             rv.make_message(token, to="nested@example.org"))
    assert not refused
    for user in ("alice", "bob", "carol"):
        assert len(raven.wait_for(user, token)) == 1
    assert raven.find("dave", token) == []


@pytest.mark.parametrize("alias", ["loop1", "pipe", "file", "include"])
def test_unsafe_or_broken_alias_refused(raven, alias):
    with rv.session(raven.port) as s:
        assert s.cmd("MAIL FROM:<s@remote.test>").code == 250
        r = s.cmd("RCPT TO:<%s@example.org>" % alias)
        assert 400 <= r.code < 600, r
        assert s.cmd("RCPT TO:<alice@example.org>").code == 250
        assert s.cmd("DATA").code == 354
        token = rv.unique("alias-" + alias)
        s.send(rv.dot_stuff_crlf(rv.make_message(token)) + b".\r\n")
        assert s.reply().code == 250
    raven.wait_for("alice", token)
    time.sleep(0.3)
    assert not os.path.exists(os.path.join(raven.root, "pwned-pipe"))
    assert not os.path.exists(os.path.join(raven.root, "pwned-file"))


def test_same_mailbox_reached_twice_gets_one_copy(raven):
    """bob+a, bob+b, Bob and an alias that includes bob: one copy for bob."""
    token = rv.unique("dedupe")
    rcpts = ["bob+a@example.org", "bob+b@example.org", "Bob@example.org", "team@example.org"]
    msg = rv.make_message(token, to=rcpts[0]).replace("\n", "\r\n").encode()
    with smtplib.SMTP("127.0.0.1", raven.port, timeout=20) as s:
        refused = s.sendmail("sender@remote.test", rcpts, msg)
    assert refused == {}
    raven.wait_for("alice", token)
    raven.wait_for("bob", token)
    raven.wait_queue_empty()
    assert len(raven.find("bob", token)) == 1
    assert len(raven.find("alice", token)) == 1


def test_alias_expansion_is_bounded_per_transaction(factory):
    """A transaction reaches at most 1000 mailboxes after alias expansion:
    the RCPT that would pass that gets 452 4.5.3, the session goes on."""
    raven = factory(start=False)
    names = ["u%04d" % i for i in range(1100)]
    with open(os.path.join(raven.root, "users"), "a", encoding="utf-8") as f:
        f.write("".join(n + "\n" for n in names))
    with open(os.path.join(raven.root, "aliases"), "a", encoding="utf-8") as f:
        for g in range(11):  # groups of 100: alias lines stay short
            f.write("g%d: %s\n" % (g, ", ".join(names[g * 100:(g + 1) * 100])))
        f.write("big: %s\n" % ", ".join("g%d" % g for g in range(7)))
        f.write("big2: %s\n" % ", ".join("g%d" % g for g in range(7, 11)))
    raven.start()
    with rv.session(raven.port) as s:
        assert s.cmd("EHLO client.test").code == 250
        assert s.cmd("MAIL FROM:<sender@remote.test>").code == 250
        assert s.cmd("RCPT TO:<big@example.org>").code == 250
        r = s.cmd("RCPT TO:<big2@example.org>")
        assert (r.code, r.enh) == (452, "4.5.3"), r
        assert s.cmd("RCPT TO:<alice@example.org>").code == 250
        assert s.cmd("RSET").code == 250
        assert s.cmd("QUIT").code == 221


@pytest.mark.skipif(os.geteuid() != 0, reason="delivering as other users needs root")
def test_owner_user_delivers_as_each_system_account(factory):
    """owner "%{user}": each mailbox is written as the system account it
    names; root never; a listed name without an account waits (4.3.5);
    a name not in the users table is refused at RCPT."""
    import pwd
    accounts = sorted({"nobody", rv.run_user()})
    raven = factory(start=False)
    homes = os.path.join(raven.root, "homes")
    os.makedirs(homes)
    os.chmod(homes, 0o1777)
    listed = ", ".join('"%s"' % n for n in accounts + ["root", "ghost-without-account"])
    raven.write_config(extra=[
        'table sysdom { "sys.test" }',
        'table sysusers { %s }' % listed,
        'action "sys" maildir "%s/%%{user}/Maildir" users <sysusers> owner "%%{user}"' % homes,
        'match from any for domain <sysdom> action "sys"',
    ])
    raven.start()
    token = rv.unique("sysuser")
    rcpts = ["%s@sys.test" % n for n in accounts]
    smtp_send(raven.port, "someone@remote.test", rcpts, rv.make_message(token, to=rcpts[0]))
    for n in accounts:
        new = os.path.join(homes, n, "Maildir", "new")
        rv.wait_until(lambda: os.path.isdir(new) and os.listdir(new), rv.DELIVERY_TIMEOUT,
                      what="a copy for %s" % n)
        [f] = os.listdir(new)
        st = os.stat(os.path.join(new, f))
        assert st.st_uid == pwd.getpwnam(n).pw_uid, (n, st.st_uid)
    qid = rv.sendmail(raven.port, "someone@remote.test",
                      ["root@sys.test", "ghost-without-account@sys.test"],
                      rv.make_message(rv.unique("sysroot"), to="root@sys.test"))
    deferred = rv.wait_log(raven, "deferred", count=2, id=qid)
    texts = {d["user"]: d["text"] for d in deferred}
    assert "will not deliver as root" in texts["root"], texts
    assert "no system user ghost-without-account" in texts["ghost-without-account"], texts
    assert not os.path.exists(os.path.join(homes, "root"))
    with rv.RawSMTP(raven.port) as s:
        assert s.greeting().code == 220
        s.ehlo()
        assert s.cmd("MAIL FROM:<someone@remote.test>").code == 250
        r = s.cmd("RCPT TO:<stranger@sys.test>")
        assert (r.code, r.enh) == (550, "5.1.1"), r
