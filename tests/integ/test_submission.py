"""Message submission (RFC 6409) on `listen ... submission` (587 style,
STARTTLS) and `listen ... tls submission` (465 style, RFC 8314): AUTH
before MAIL, and a message without Date: or Message-ID: gets them at the
end of its header section, written while the message streams to the spool."""

import base64
import os
import smtplib

import pytest

import raven as rv
import tlsauth as ta


@pytest.fixture
def sub(factory, tmp_path):
    os.chmod(tmp_path, 0o755)
    path, _ = ta.write_passwd(str(tmp_path))
    starttls_port, tls_port = rv.free_port(), rv.free_port()
    r = factory(auth_users=path, listeners=[(starttls_port, ("submission",)),
                                            (tls_port, ("tls", "submission"))])
    r.sub_port, r.sub_tls_port = starttls_port, tls_port
    return r


def headers_of(raw):
    """The delivered message's header section (after our Received:), as a
    list of (name, value) in order, unfolded."""
    _, rest = rv.split_received(raw)
    head = rest.split(b"\n\n", 1)[0].decode()
    out = []
    for line in head.split("\n"):
        if line[:1] in (" ", "\t") and out:
            out[-1] = (out[-1][0], out[-1][1] + " " + line.strip())
        elif ":" in line:
            n, v = line.split(":", 1)
            out.append((n, v.strip()))
    return out


def test_auth_required_before_mail(sub):
    with smtplib.SMTP("127.0.0.1", sub.sub_port, timeout=20) as s:
        s.ehlo()
        s.starttls(context=ta.client_context())
        s.ehlo()
        code, resp = s.mail("alice@example.org")
        assert (code, resp) == (530, b"5.7.0 Authentication required"), (code, resp)
        assert s.login("alice", ta.PASSWORDS["alice"])[0] == 235
        assert s.mail("alice@example.org")[0] == 250
    # before STARTTLS: AUTH is not even possible
    with smtplib.SMTP("127.0.0.1", sub.sub_port, timeout=20) as s:
        s.ehlo()
        assert not s.has_extn("auth") and s.has_extn("starttls")
        code, resp = s.mail("alice@example.org")
        assert code == 530, (code, resp)
    # the port-25 listener stays an MX: no AUTH needed to reach local users
    assert rv.sendmail(sub.port, "x@remote.test", ["alice@example.org"],
                       rv.make_message(rv.unique("mx")))


def test_missing_date_and_message_id_are_added(sub):
    token = rv.unique("nohdr")
    with smtplib.SMTP_SSL("127.0.0.1", sub.sub_tls_port, timeout=20,
                          context=ta.client_context()) as s:
        assert s.login("alice", ta.PASSWORDS["alice"])[0] == 235
        s.sendmail("alice@example.org", ["bob@example.org"],
                   "From: <alice@example.org>\r\nSubject: %s\r\n\r\nbody\r\nDate: in the body\r\n"
                   % token)
    got = sub.wait_for("bob", token)[0]
    h = headers_of(got)
    names = [n.lower() for n, _ in h]
    assert names == ["from", "subject", "date", "message-id"], h
    date = dict((n.lower(), v) for n, v in h)["date"]
    import email.utils
    assert email.utils.parsedate_to_datetime(date) is not None, date
    mid = dict((n.lower(), v) for n, v in h)["message-id"]
    assert mid.startswith("<") and mid.endswith("@%s>" % rv.HOSTNAME), mid
    assert b"\n\nbody\nDate: in the body\n" in got  # the body is untouched
    assert rv.log_events(sub, "headers-added", date=1, **{"message-id": 1})


def test_present_headers_are_kept(sub):
    token = rv.unique("hdr")
    msg = rv.make_message(token)  # has Date: and Message-ID:
    with smtplib.SMTP("127.0.0.1", sub.sub_port, timeout=20) as s:
        s.starttls(context=ta.client_context())
        s.login("bob", ta.PASSWORDS["bob"])
        s.sendmail("bob@example.org", ["alice@example.org"], msg)
    got = sub.wait_for("alice", token)[0]
    h = headers_of(got)
    assert [n.lower() for n, _ in h].count("date") == 1, h
    assert [n.lower() for n, _ in h].count("message-id") == 1, h
    assert ("Message-ID", "<%s@test>" % token) in h
    assert not rv.log_events(sub, "headers-added")


def test_header_only_and_one_missing(sub):
    """A message that is all header (no blank line) gets them at its end;
    only what is missing is added."""
    token = rv.unique("hdronly")
    with smtplib.SMTP_SSL("127.0.0.1", sub.sub_tls_port, timeout=20,
                          context=ta.client_context()) as s:
        s.login("carol", ta.PASSWORDS["carol"])
        code, _ = s.mail("carol@example.org")
        assert code == 250
        assert s.rcpt("dave@example.org")[0] == 250
        blob = ("Subject: %s\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n" % token).encode()
        code, resp = s.data(blob)
        assert code == 250, resp
    got = sub.wait_for("dave", token)[0]
    h = headers_of(got)
    assert [n.lower() for n, _ in h] == ["subject", "date", "message-id"], h


def test_mx_listener_adds_nothing(sub):
    token = rv.unique("mxhdr")
    with smtplib.SMTP("127.0.0.1", sub.port, timeout=20) as s:
        s.sendmail("x@remote.test", ["alice@example.org"], "Subject: %s\r\n\r\nhi\r\n" % token)
    got = sub.wait_for("alice", token)[0]
    assert [n.lower() for n, _ in headers_of(got)] == ["subject"]


def test_auth_plain_initial_response_on_implicit_tls(sub):
    with ta.TLSRaw(sub.sub_tls_port) as c:
        c.starttls()
        assert c.greeting().code == 220
        c.ehlo()
        blob = base64.b64encode(b"\0alice\0" + ta.PASSWORDS["alice"].encode()).decode()
        r = c.cmd("AUTH PLAIN " + blob)
        assert (r.code, r.enh) == (235, "2.7.0"), r
        assert c.cmd("MAIL FROM:<alice@example.org>").code == 250
