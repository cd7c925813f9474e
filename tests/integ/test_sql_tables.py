"""SQL tables (`table NAME sqlite|postgresql "…" query "… $1"`) against a
real SQLite file and a real PostgreSQL server started privately: users and
domains that accept a known recipient and refuse an unknown one, aliases,
a database going away mid-run (451 4.3.0, the daemon fine) and coming
back (lookups work again without a restart), file changes seen once the
cached answers expire, and `ravend -n`."""

import os
import smtplib
import sqlite3
import subprocess
import time

import pytest

import pg_peer
import raven as rv
from test_sendmail import WAIT, maildrop, submitter  # noqa: F401 (a fixture)

DOMAIN = "sql.test"
CACHE_TTL = 5  # LOOKUP_CACHE_TTL in src/smtp/session.h


def sql_config(data, kind, source):
    """Tables, an action and a rule for DOMAIN from one database."""
    q = lambda sql: '"%s"' % sql
    return [
        'table sqldomains %s "%s" query %s' % (kind, source,
                                               q("SELECT 1 FROM domains WHERE name = $1")),
        'table sqlusers %s "%s" query %s' % (kind, source,
                                             q("SELECT 1 FROM users WHERE name = $1")),
        'table sqlaliases %s "%s" query %s' % (kind, source,
                                               q("SELECT target FROM aliases WHERE name = $1")),
        'action "sqlbox" maildir "%s/mail/%%{user}" users <sqlusers> alias <sqlaliases>' % data,
        'match from any for domain <sqldomains> action "sqlbox"',
    ]


SCHEMA = [
    "CREATE TABLE domains (name TEXT PRIMARY KEY)",
    "CREATE TABLE users (name TEXT PRIMARY KEY)",
    "CREATE TABLE aliases (name TEXT, target TEXT)",
    "INSERT INTO domains VALUES ('%s')" % DOMAIN,
    "INSERT INTO users VALUES ('alice'), ('bob')",
    "INSERT INTO aliases VALUES ('info', 'alice'), ('team', 'alice'), ('team', 'bob')",
]


def make_sqlite(path):
    db = sqlite3.connect(path)
    for s in SCHEMA:
        db.execute(s)
    db.commit()
    db.close()
    os.chmod(path, 0o644)


def rcpt(port, addr):
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=30) as s:
        s.ehlo()
        s.mail("sender@elsewhere.test")
        return s.rcpt(addr)


def send(port, to, token):
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=30) as s:
        s.sendmail("sender@elsewhere.test", [to], rv.make_message(token, to=to))


def start_sqlite(factory, tmp_root):
    root = rv.make_root()
    path = os.path.join(root, "tables.db")
    make_sqlite(path)
    data = os.path.join(root, "var")
    r = factory(root=root, extra=sql_config(data, "sqlite", path))
    return r, path


def check_users_and_domains(r):
    code, msg = rcpt(r.port, "alice@%s" % DOMAIN)
    assert code == 250, msg
    code, msg = rcpt(r.port, "ALICE@SQL.Test")
    assert code == 250, msg
    code, msg = rcpt(r.port, "nobody@%s" % DOMAIN)
    assert (code, msg[:5]) == (550, b"5.1.1"), msg
    code, msg = rcpt(r.port, "alice@unknown-domain.test")
    assert (code, msg[:5]) == (550, b"5.7.1"), msg


def test_sqlite_users_domains_aliases(factory):
    r, _ = start_sqlite(factory, None)
    check_users_and_domains(r)
    token = rv.unique("sqlite")
    send(r.port, "bob@%s" % DOMAIN, token)
    r.wait_for("bob", token)
    # an alias with two rows: both mailboxes
    token = rv.unique("sqlite-team")
    send(r.port, "team@%s" % DOMAIN, token)
    r.wait_for("alice", token)
    r.wait_for("bob", token)


def test_sqlite_changes_seen_after_cache(factory):
    r, path = start_sqlite(factory, None)
    code, _ = rcpt(r.port, "carol@%s" % DOMAIN)
    assert code == 550
    db = sqlite3.connect(path)
    db.execute("INSERT INTO users VALUES ('carol')")
    db.commit()
    db.close()
    time.sleep(CACHE_TTL + 1)
    code, msg = rcpt(r.port, "carol@%s" % DOMAIN)
    assert code == 250, msg
    # a new file moved into place (as tables are regenerated): the lookup
    # role opens it afresh instead of reading the one it had open
    fresh = path + ".new"
    make_sqlite(fresh)
    db = sqlite3.connect(fresh)
    db.execute("INSERT INTO users VALUES ('dave')")
    db.commit()
    db.close()
    os.rename(fresh, path)
    time.sleep(CACHE_TTL + 2)
    code, msg = rcpt(r.port, "dave@%s" % DOMAIN)
    assert code == 250, msg
    code, msg = rcpt(r.port, "carol@%s" % DOMAIN)  # not in the new file
    assert (code, msg[:5]) == (550, b"5.1.1"), msg


def test_sqlite_file_missing_is_451(factory):
    r, path = start_sqlite(factory, None)
    os.rename(path, path + ".away")
    code, msg = rcpt(r.port, "erin@%s" % DOMAIN)
    assert (code, msg[:5]) == (451, b"4.3.0"), msg
    os.rename(path + ".away", path)
    time.sleep(1)
    code, msg = rcpt(r.port, "alice@%s" % DOMAIN)
    assert code == 250, msg


def test_sendmail_to_sql_routed_addresses(factory, submitter):
    """raven-sendmail's mail to addresses routed through SQL tables: the
    pickup role asks the lookup role (through the queue, as the smtp role
    does at RCPT) and loads the file again with each answer — a user, an
    alias with two rows; an unknown user is bounced to the sender; while
    the database fails, the file waits in the maildrop, and it goes once
    the database answers again."""
    r, path = start_sqlite(factory, None)
    tok = rv.unique("pickup-sql")
    msg = "Subject: %s\n\nfrom cron\n" % tok
    p = submitter.run(["-C", r.conf, "-f", "alice@%s" % DOMAIN, "bob@%s" % DOMAIN,
                       "team@%s" % DOMAIN, "nobody@%s" % DOMAIN], msg.encode())
    assert p.returncode == 0, p.stderr
    r.wait_for("bob", tok, timeout=WAIT)
    r.wait_for("alice", tok, timeout=WAIT)  # through the alias
    # nobody@: bounced to the sender, a mailbox in the same SQL tables
    bounce = r.wait_for("alice", "nobody@%s" % DOMAIN, timeout=WAIT)
    assert b"5.1.1" in bounce[0], bounce[0][:600]
    rv.wait_until(lambda: not maildrop(r), 10, what="the maildrop empty")

    # the aliases query fails while its table is away (an open SQLite
    # connection would still read a renamed file: the table goes instead)
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE aliases RENAME TO aliases_away")
    db.commit()
    time.sleep(CACHE_TTL + 2)  # nothing answered from the cache (whole seconds)
    tok = rv.unique("pickup-sql-later")
    # info@: an alias no lookup has asked about yet
    p = submitter.run(["-C", r.conf, "info@%s" % DOMAIN], ("Subject: %s\n\nx\n" % tok).encode())
    assert p.returncode == 0, p.stderr
    rv.wait_log(r, "pickup-deferred")
    assert len(maildrop(r)) == 1
    db.execute("ALTER TABLE aliases_away RENAME TO aliases")
    db.commit()
    db.close()
    # the next file dropped makes the pickup role scan again: both go
    tok2 = rv.unique("pickup-sql-next")
    p = submitter.run(["-C", r.conf, "bob@%s" % DOMAIN], ("Subject: %s\n\nx\n" % tok2).encode())
    assert p.returncode == 0, p.stderr
    r.wait_for("bob", tok2, timeout=WAIT)
    r.wait_for("alice", tok, timeout=WAIT)


pg_only = pytest.mark.skipif(not pg_peer.available(), reason="PostgreSQL server not installed")


@pytest.fixture
def postgres():
    root = rv.make_root("raven-pg-")
    pg = pg_peer.Postgres(root)
    pg.start()
    try:
        pg.create_db()
        for s in SCHEMA:
            pg.psql(s)
        yield pg
    finally:
        pg.cleanup()
        os.rmdir(root) if os.path.isdir(root) and not os.listdir(root) else None


@pg_only
def test_postgresql_users_domains_aliases(factory, postgres):
    root = rv.make_root()
    data = os.path.join(root, "var")
    r = factory(root=root, extra=sql_config(data, "postgresql", postgres.conninfo()))
    check_users_and_domains(r)
    token = rv.unique("pg-info")
    send(r.port, "info@%s" % DOMAIN, token)
    r.wait_for("alice", token)


@pg_only
def test_postgresql_down_and_back(factory, postgres):
    root = rv.make_root()
    data = os.path.join(root, "var")
    # over the unix socket in the server's directory
    r = factory(root=root, extra=sql_config(data, "postgresql", postgres.conninfo(tcp=False)))
    code, msg = rcpt(r.port, "bob@%s" % DOMAIN)
    assert code == 250, msg
    # by pid: a role just started may not have named itself yet
    pids = sorted(p for ps in r.roles().values() for p in ps)
    postgres.stop()
    time.sleep(CACHE_TTL + 1)  # what was cached has gone
    for addr in ("bob@%s" % DOMAIN, "frank@%s" % DOMAIN):
        code, msg = rcpt(r.port, addr)
        assert (code, msg[:5]) == (451, b"4.3.0"), msg
    assert r.proc.poll() is None
    postgres.start()
    code, msg = rcpt(r.port, "bob@%s" % DOMAIN)
    assert code == 250, msg
    code, msg = rcpt(r.port, "frank@%s" % DOMAIN)
    assert (code, msg[:5]) == (550, b"5.1.1"), msg
    assert sorted(p for ps in r.roles().values() for p in ps) == pids, "no role was restarted"


@pg_only
def test_check_mode(postgres, tmp_path):
    root = rv.make_root()
    data = os.path.join(root, "var")
    conf = rv.make_config(root, rv.free_port(),
                          extra=sql_config(data, "postgresql", postgres.conninfo()))
    rv.write_tables(root)
    path = os.path.join(root, "ok.conf")
    with open(path, "w") as f:
        f.write(conf)
    ravend = os.environ.get("RAVEND", "build/src/parent/ravend")
    p = subprocess.run([ravend, "-n", "-c", path], capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert b"warning" not in p.stderr, p.stderr
    bad = conf.replace("FROM users WHERE", "FROM no_such_table WHERE")
    with open(path, "w") as f:
        f.write(bad)
    p = subprocess.run([ravend, "-n", "-c", path], capture_output=True, timeout=30)
    assert p.returncode != 0 and b"no_such_table" in p.stderr, p.stderr
    postgres.stop()
    with open(path, "w") as f:
        f.write(conf)
    p = subprocess.run([ravend, "-n", "-c", path], capture_output=True, timeout=30)
    assert p.returncode == 0 and b"cannot be reached" in p.stderr, p.stderr
