"""`ravend -n -c FILE`: exit 0 for a good configuration; exit 1 with
"FILE:LINE: reason" for a bad one, pointing at the offending line."""

import os
import shutil
import subprocess

import pytest

import raven as rv


@pytest.fixture
def root():
    d = rv.make_root("raven-conf-")
    rv.write_tables(d)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def check(path):
    return subprocess.run([rv.RAVEND, "-n", "-c", path], capture_output=True, text=True,
                          timeout=20, stdin=subprocess.DEVNULL)


def write(root, text, name="raven.conf"):
    path = os.path.join(root, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def test_good_config(root):
    path = write(root, rv.make_config(root, rv.free_port()))
    p = check(path)
    assert p.returncode == 0, p.stderr
    # checking starts nothing and listens nowhere
    assert not os.path.exists(os.path.join(root, "var", "run", "ravend.pid"))


def test_good_config_with_every_test_option(root):
    path = write(root, rv.make_config(root, rv.free_port(), errors=3, timeout=2,
                                      message_size="5M"))
    p = check(path)
    assert p.returncode == 0, p.stderr


def test_missing_file(root):
    p = check(os.path.join(root, "nonexistent.conf"))
    assert p.returncode == 1, p
    assert "nonexistent.conf" in p.stderr


_PORTS = {}


def _base_lines(root):
    # One port per root, so a line taken from one call (duplicate-listen)
    # really repeats the config of the next.
    port = _PORTS.setdefault(str(root), rv.free_port())
    return rv.make_config(root, port).rstrip("\n").split("\n")


def _with_line(root, replace_prefix, new_line):
    """The good config with the first line starting with replace_prefix
    replaced (or new_line appended when the prefix is None); returns
    (text, 1-based line number of new_line)."""
    lines = _base_lines(root)
    if replace_prefix is None:
        lines.append(new_line)
        return "\n".join(lines) + "\n", len(lines)
    for i, l in enumerate(lines):
        if l.startswith(replace_prefix):
            lines[i] = new_line
            return "\n".join(lines) + "\n", i + 1
    raise AssertionError("no line starts with %r" % replace_prefix)


BAD = [
    ("unknown-action", "match ", 'match from any for domain <domains> action "nosuch"'),
    ("undefined-table", "match ", 'match from any for domain <nosuch> action "mailbox"'),
    ("undefined-users-table", "action ",
     'action "mailbox" maildir "/tmp/x/%{user}" users <nosuch>'),
    ("port-too-big", "listen ", "listen on 127.0.0.1 port 99999"),
    ("port-not-number", "listen ", "listen on 127.0.0.1 port smtp25x"),
    ("bad-address", "listen ", "listen on 127.0.0.999 port 2525"),
    ("syntax-missing-value", "hostname ", "hostname"),
    ("syntax-garbage", None, "match from any for"),
    ("unknown-keyword", None, "frobnicate yes"),
    ("unterminated-string", "hostname ", 'hostname "mx.test.example'),
    ("tls-missing-files", None, 'tls certificate "/nonexistent/cert.pem" key "/nonexistent/key.pem"'),
    ("bad-size", "limits ", "limits message-size lots"),
    ("duplicate-action", None,
     'action "mailbox" maildir "/tmp/other/%{user}"'),
    ("duplicate-table", None, 'table domains { "example.net" }'),
    ("duplicate-listen", None, None),  # filled in from the config's own listen line
    ("plaintext-auth-not-loopback", "listen ", "listen on 0.0.0.0 port 2525 plaintext-auth"),
    ("auth-users-undefined", None, "auth users <nosuch>"),
    ("table-used-before-defined", "table domains",
     'match from any for domain <domains> action "mailbox"'),
    ("missing-table-file", "table users", 'table users file "/nonexistent/raven/users"'),
    ("bad-hostname", "hostname ", 'hostname "bad_host!.example"'),
    ("text-line-too-small", "limits ", "limits text-line 999"),
    ("command-line-too-small", "limits ", "limits command-line 511"),
    ("message-size-too-small", "limits ", "limits message-size 512"),
    ("timeout-zero", None, "timeout command 0"),
    ("timeout-too-long", None, "timeout data 2d"),
    ("retry-min-over-max", None, "queue retry-min 2h retry-max 1h"),
    ("network-host-bits", None, 'local networks { "10.0.0.1/8" }'),
    ("bad-duration-unit", None, "timeout command 5y"),
    ("relay-timeout-zero", None, "relay timeout dot 0s"),
    ("relay-timeout-unknown", None, "relay timeout forever 5s"),
    ("relay-connect-too-long", None, "relay timeout connect 2h"),
]


@pytest.mark.parametrize("prefix,line", [(b[1], b[2]) for b in BAD], ids=[b[0] for b in BAD])
def test_bad_config(root, prefix, line):
    if line is None:  # duplicate-listen
        line = [l for l in _base_lines(root) if l.startswith("listen ")][0]
    text, lineno = _with_line(root, prefix, line)
    path = write(root, text)
    p = check(path)
    assert p.returncode == 1, "exit %d for bad line %d %r\nstderr: %s" % (
        p.returncode, lineno, line, p.stderr)
    want = "%s:%d:" % (path, lineno)
    assert want in p.stderr, "want %r in stderr, got %r" % (want, p.stderr)
    assert len(p.stderr.strip().split(want, 1)[1].strip()) > 3, "no reason given: %r" % p.stderr


ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0,
                               reason="user and owner are only used when started as root")


@ROOT_ONLY
@pytest.mark.parametrize("prefix,line", [
    ("user ", 'user "no-such-raven-user"'),
    ("user ", 'user "root"'),
    ("action ", 'action "mailbox" maildir "/tmp/x/%{user}" owner "no-such-owner"'),
], ids=["missing-user", "root-user", "missing-owner"])
def test_accounts_checked_when_root(root, prefix, line):
    """Started as root, `ravend -n` looks up the accounts it will run as,
    so a typo is an error at its line, not a failure of every delivery."""
    text, lineno = _with_line(root, prefix, line)
    path = write(root, text)
    p = check(path)
    assert p.returncode == 1, p
    want = "%s:%d:" % (path, lineno)
    assert want in p.stderr, p.stderr
    assert line.split('"')[-2] in p.stderr, p.stderr


def test_error_line_counts_comments_and_blank_lines(root):
    text = "# a comment\n\n   # indented comment\n" + "\n".join(_base_lines(root)) + \
        "\n\nbogus statement here\n"
    path = write(root, text)
    lineno = text.count("\n")  # the bogus line is the last line
    p = check(path)
    assert p.returncode == 1
    assert "%s:%d:" % (path, lineno) in p.stderr, p.stderr


def test_bad_table_file_reported_at_its_own_line(root):
    users = os.path.join(root, "users")
    with open(users, "w") as f:
        f.write("alice\nbob\n# comment\nalice\n")
    path = write(root, rv.make_config(root, rv.free_port()))
    p = check(path)
    assert p.returncode == 1, p.stderr
    assert "%s:4:" % users in p.stderr, p.stderr


def test_relative_paths_from_start_directory(root):
    """`data` and table files given relative to the directory ravend starts in."""
    text = rv.make_config(root, rv.free_port()).replace(root + "/", "")
    assert root not in text
    path = write(root, text)
    p = subprocess.run([rv.RAVEND, "-n", "-c", path], capture_output=True, text=True,
                       timeout=20, cwd=root)
    assert p.returncode == 0, p.stderr
    elsewhere = rv.make_root("raven-conf-cwd-")
    try:
        p = subprocess.run([rv.RAVEND, "-n", "-c", path], capture_output=True, text=True,
                           timeout=20, cwd=elsewhere)
        assert p.returncode == 1, "table files resolved without the start directory"
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)


def test_builtin_default_checks(root):
    p = subprocess.run([rv.RAVEND, "-n"], capture_output=True, text=True, timeout=20, cwd=root)
    assert p.returncode == 0, p.stderr
    assert not os.path.exists(os.path.join(root, "var", "run", "ravend.pid"))


def test_daemon_refuses_to_start_with_bad_config(root):
    text, lineno = _with_line(root, None, "frobnicate yes")
    path = write(root, text)
    p = subprocess.run([rv.RAVEND, "-d", "-c", path], capture_output=True, text=True,
                       timeout=20, stdin=subprocess.DEVNULL)
    assert p.returncode == 1, p
    assert '%s:%d: unknown statement "frobnicate"' % (path, lineno) in p.stderr, p.stderr
