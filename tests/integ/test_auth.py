"""SMTP AUTH (RFC 4954) against the real daemon: PLAIN and LOGIN over TLS
with smtplib and swaks, hashes as mkpasswd writes them (yescrypt, bcrypt,
sha512-crypt), nothing before STARTTLS, refusals delayed, an address locked
out after repeated failures, `match from auth` routing, senders an
authenticated login owns, and the hashes present in the auth role's memory
only."""

import os
import smtplib
import subprocess
import time

import pytest

import raven as rv
import tlsauth as ta

AUTH_ONLY = "authonly.test"


@pytest.fixture
def passwd(tmp_path):
    os.chmod(tmp_path, 0o755)
    return ta.write_passwd(str(tmp_path))


def auth_raven(factory, passwd, **opts):
    path, _ = passwd
    extra = list(opts.pop("extra", ()))
    extra.append('match from auth for domain "%s" action "mailbox"' % AUTH_ONLY)
    return factory(auth_users=path, extra=extra, **opts)


def auth_plain(s, user, password):
    """One AUTH PLAIN attempt (smtplib's login() tries every mechanism)."""
    import base64
    blob = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
    return s.docmd("AUTH", "PLAIN " + blob)


def tls_session(port, **kw):
    s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=30, **kw)
    s.ehlo()
    s.starttls(context=ta.client_context())
    s.ehlo()
    return s


@pytest.mark.parametrize("user", ["alice", "bob", "carol"])
def test_login_each_hash_scheme(factory, passwd, user):
    """smtplib starttls() + login(), for a yescrypt, a bcrypt and a
    sha512-crypt user; the mail is then routed by `match from auth`."""
    r = auth_raven(factory, passwd)
    token = rv.unique("auth-" + user)
    with tls_session(r.port) as s:
        assert "PLAIN" in s.esmtp_features["auth"] and "LOGIN" in s.esmtp_features["auth"]
        code, resp = s.login(user, ta.PASSWORDS[user])
        assert code == 235, resp
        s.sendmail("%s@example.org" % user, ["dave@%s" % AUTH_ONLY],
                   rv.make_message(token, to="dave@" + AUTH_ONLY))
    got = r.wait_for("dave", token)[0]
    assert b" with ESMTPSA id " in rv.split_received(got)[0]
    assert rv.log_events(r, "auth-ok", login=user)
    ev = rv.log_events(r, "auth", login=user)[0]
    assert ev["tls"] == "1", ev


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_tls_auth(factory, passwd, mech):
    r = auth_raven(factory, passwd)
    token = rv.unique("swaks")
    p = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % r.port, "--tls", "--auth", mech,
         "--auth-user", "alice", "--auth-password", ta.PASSWORDS["alice"],
         "--from", "alice@example.org", "--to", "erin@" + AUTH_ONLY,
         "--header", "Message-ID: <%s@test>" % token, "--helo", "client.test"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "235 2.7.0" in p.stdout, p.stdout
    r.wait_for("erin", token)


def test_no_auth_before_starttls(factory, passwd):
    r = auth_raven(factory, passwd)
    with smtplib.SMTP("127.0.0.1", r.port, timeout=20) as s:
        s.ehlo()
        assert not s.has_extn("auth"), "AUTH offered in clear"
        code, resp = s.docmd("AUTH", "PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA==")
        assert (code, resp[:5]) == (530, b"5.7.0"), (code, resp)
        assert b"STARTTLS" in resp
    # and an unauthenticated client does not reach the auth-only domain
    with tls_session(r.port) as s:
        s.mail("alice@example.org")
        code, resp = s.rcpt("dave@" + AUTH_ONLY)
        assert (code, resp[:5]) == (550, b"5.7.1"), (code, resp)


def test_wrong_password_is_refused_after_a_delay(factory, passwd):
    r = auth_raven(factory, passwd)
    with tls_session(r.port) as s:
        for user, pw in (("alice", "wrong"), ("nobody", "alice-secret")):
            t0 = time.monotonic()
            code, resp = auth_plain(s, user, pw)
            elapsed = time.monotonic() - t0
            assert (code, resp[:5]) == (535, b"5.7.8"), (code, resp)
            assert 1.0 <= elapsed < 8, elapsed  # 1-2 s, and a busy machine
        # the session goes on: the right password still works
        assert s.login("alice", ta.PASSWORDS["alice"])[0] == 235
    evs = rv.log_events(r, "auth-failed")
    assert {e["login"] for e in evs} >= {"alice", "nobody"}, evs


def test_repeated_failures_lock_the_address_out(factory, passwd):
    r = auth_raven(factory, passwd, auth_failures=3, auth_lockout=60)
    for i in range(3):
        with tls_session(r.port) as s:
            code, resp = auth_plain(s, "bob", "guess%d" % i)
            assert (code, resp[:5]) == (535, b"5.7.8"), (code, resp)
    rv.wait_log(r, "auth-lockout", client="127.0.0.1")
    with tls_session(r.port) as s:
        # even the right password is refused while the lockout lasts
        code, resp = auth_plain(s, "bob", ta.PASSWORDS["bob"])
        assert (code, resp[:5]) == (454, b"4.7.0"), (code, resp)
    assert rv.log_events(r, "auth-refused", reason="locked out")


def test_sender_must_be_owned(factory, passwd, tmp_path):
    senders = os.path.join(str(tmp_path), "senders")
    with open(senders, "w") as f:
        f.write("carol: carol@example.org, @localhost\n")
    r = auth_raven(factory, passwd, auth_senders=senders)
    with tls_session(r.port) as s:
        s.login("alice", ta.PASSWORDS["alice"])
        for frm, ok in (("alice@example.org", True), ("Alice+lists@EXAMPLE.org", True),
                        ("alice@localhost", True), ("<>", True), ("bob@example.org", False),
                        ("alice@remote.test", False), ("alice@[127.0.0.1]", False),
                        ('"alice@remote.test"@example.org', False)):
            code, resp = s.docmd("MAIL FROM:%s" % (frm if frm == "<>" else "<%s>" % frm))
            if ok:
                assert code == 250, (frm, code, resp)
                s.rset()
            else:
                assert (code, resp[:5]) == (553, b"5.7.1"), (frm, code, resp)
    with tls_session(r.port) as s:
        s.login("carol", ta.PASSWORDS["carol"])
        for frm, ok in (("carol@example.org", True), ("anyone@localhost", True),
                        ("carol@example.net", False), ("alice@example.org", False)):
            code, resp = s.docmd("MAIL FROM:<%s>" % frm)
            assert (code == 250) == ok, (frm, code, resp)
            if ok:
                s.rset()
            else:
                assert (code, resp[:5]) == (553, b"5.7.1"), (frm, code, resp)
    assert rv.log_events(r, "sender-refused", login="alice")


def test_plaintext_auth_listener_on_loopback(factory, passwd):
    """A listener marked plaintext-auth (loopback only) takes AUTH without
    TLS; the others still refuse it."""
    port = rv.free_port()
    r = auth_raven(factory, passwd, listeners=[(port, ("submission", "plaintext_auth"))])
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
        s.ehlo()
        assert s.has_extn("auth")
        assert s.login("alice", ta.PASSWORDS["alice"])[0] == 235
    with smtplib.SMTP("127.0.0.1", r.port, timeout=20) as s:
        s.ehlo()
        assert not s.has_extn("auth")


def test_only_the_auth_role_holds_the_hashes(factory, passwd):
    """Read every role's memory (root may, though they are not dumpable):
    the hashes are in raven-auth's and in no other process's — the smtp
    role above all — even after logins went through all of them."""
    _, hashes = passwd
    r = auth_raven(factory, passwd)
    with tls_session(r.port) as s:
        s.login("alice", ta.PASSWORDS["alice"])
    needles = [h.encode() for h in hashes.values()]
    roles = r.roles()
    auth = roles["raven-auth"][0]
    seen = ta.process_memory_contains(auth, needles)
    assert all(seen.values()), "the test cannot see what the auth role holds: %s" % seen
    for name in ("raven-smtp", "raven-queue", "raven-local"):
        for pid in roles[name]:
            seen = ta.process_memory_contains(pid, needles)
            assert not any(seen.values()), "%s (pid %d) holds a hash: %s" % (name, pid, seen)
    seen = ta.process_memory_contains(r.pid, needles)
    assert not any(seen.values()), "the parent holds a hash"
    assert ta.seccomp_mode(auth) == 2


def test_auth_role_restarts_and_answers_again(factory, passwd):
    """The auth role dying is a temporary failure for the client (454),
    never a crash of the queue or smtp; it comes back."""
    import signal
    r = auth_raven(factory, passwd)
    auth = r.role_pid("raven-auth")
    smtp = r.role_pid("raven-smtp")
    os.kill(auth, signal.SIGKILL)
    new = r.role_pid("raven-auth", exclude=(auth,))
    assert new != auth
    rv.wait_log(r, "peer-added", kind="auth", count=2)
    with tls_session(r.port) as s:
        assert s.login("alice", ta.PASSWORDS["alice"])[0] == 235
    assert r.role_pid("raven-smtp") == smtp
