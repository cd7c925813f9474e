"""SQL tables for `auth users` (login -> crypt hash, asked by the auth role
through the queue of the lookup role): a known login authenticates over
STARTTLS, a wrong password is 535, a database that is down is 454 4.7.0
(never 535) and logins work again once it is back; the hash never reaches
the smtp role's memory."""

import os
import sqlite3
import time

import pytest

import pg_peer
import raven as rv
import tlsauth as ta
from test_auth import auth_plain, tls_session

CREDS_QUERY = "SELECT password FROM creds WHERE login = $1"


def creds_rows():
    return {u: ta.mkpasswd(p, ta.SCHEMES[u]) for u, p in ta.PASSWORDS.items()}


def auth_config(kind, source):
    return ['table sqlcreds %s "%s" query "%s"' % (kind, source, CREDS_QUERY),
            "auth users <sqlcreds>"]


def sqlite_file(root, name, schema, rows):
    """An SQLite file root/name with one table of rows, readable by the lookup role."""
    path = os.path.join(root, name)
    db = sqlite3.connect(path)
    db.execute(schema)
    table = schema.split()[2]
    db.executemany("INSERT INTO %s VALUES (?, ?)" % table, rows)
    db.commit()
    db.close()
    os.chmod(path, 0o644)
    return path


def sqlite_creds(root, hashes):
    return sqlite_file(root, "creds.db",
                       "CREATE TABLE creds (login TEXT PRIMARY KEY, password TEXT)",
                       hashes.items())


def login(port, user, password):
    with tls_session(port) as s:
        return auth_plain(s, user, password)


def test_sqlite_auth_users(factory):
    root = rv.make_root()
    hashes = creds_rows()
    r = factory(root=root, extra=auth_config("sqlite", sqlite_creds(root, hashes)))
    with tls_session(r.port) as s:
        code, resp = s.login("alice", ta.PASSWORDS["alice"])
        assert code == 235, resp
    assert login(r.port, "Bob", ta.PASSWORDS["bob"])[0] == 235  # keys are lowercased
    assert login(r.port, "carol", "wrong")[0] == 535
    assert login(r.port, "nobody", "wrong")[0] == 535
    # the smtp role never holds a hash, nor does the queue keep one
    needles = [h.encode() for h in hashes.values()]
    roles = r.roles()
    # the positive control: the lookup role read them from the file
    seen = ta.process_memory_contains(roles["raven-lookup"][0], needles)
    assert any(seen.values()), "the test cannot see what the lookup role read: %s" % seen
    for name in ("raven-smtp", "raven-queue"):
        for pid in roles[name]:
            seen = ta.process_memory_contains(pid, needles)
            assert not any(seen.values()), "%s (pid %d) holds a hash: %s" % (name, pid, seen)


def test_sqlite_missing_file_is_454(factory):
    root = rv.make_root()
    r = factory(root=root, extra=auth_config("sqlite", os.path.join(root, "none.db")))
    code, resp = login(r.port, "alice", ta.PASSWORDS["alice"])
    assert (code, resp[:5]) == (454, b"4.7.0"), resp
    assert r.proc.poll() is None


pg_only = pytest.mark.skipif(not pg_peer.available(), reason="PostgreSQL server not installed")


@pg_only
def test_postgresql_auth_users_down_and_back(factory):
    pgroot = rv.make_root("raven-pg-")
    pg = pg_peer.Postgres(pgroot)
    pg.start()
    try:
        pg.create_db()
        hashes = creds_rows()
        pg.psql("CREATE TABLE creds (login TEXT PRIMARY KEY, password TEXT)")
        for u, h in hashes.items():
            pg.psql("INSERT INTO creds VALUES ('%s', '%s')" % (u, h))
        r = factory(extra=auth_config("postgresql", pg.conninfo()))
        assert login(r.port, "alice", ta.PASSWORDS["alice"])[0] == 235
        assert login(r.port, "alice", "wrong")[0] == 535
        pg.stop()
        code, resp = login(r.port, "bob", ta.PASSWORDS["bob"])
        assert (code, resp[:5]) == (454, b"4.7.0"), resp
        assert r.proc.poll() is None
        pg.start()
        deadline = time.time() + 20
        while True:
            code, resp = login(r.port, "bob", ta.PASSWORDS["bob"])
            if code == 235 or time.time() > deadline:
                break
            time.sleep(0.5)
        assert code == 235, resp
    finally:
        pg.cleanup()


SENDERS_QUERY = "SELECT owns FROM senders WHERE login = $1"


def sqlite_senders(root):
    return sqlite_file(root, "senders.db", "CREATE TABLE senders (login TEXT, owns TEXT)",
                       [("alice", "alice@example.org"), ("alice", "@sql.test")])


def mail_as(port, user, sender):
    with tls_session(port) as s:
        assert auth_plain(s, user, ta.PASSWORDS[user])[0] == 235
        return s.docmd("MAIL", "FROM:<%s>" % sender)


def test_sqlite_auth_senders(factory):
    """`auth senders` from SQL: listed addresses and domains (one row each)
    are owned, others 553 5.7.1; an unlisted login owns its own name."""
    root = rv.make_root()
    creds = sqlite_creds(root, creds_rows())
    r = factory(root=root, extra=auth_config("sqlite", creds) + [
        'table sqlsenders sqlite "%s" query "%s"' % (sqlite_senders(root), SENDERS_QUERY),
        "auth senders <sqlsenders>"])
    assert mail_as(r.port, "alice", "alice@example.org")[0] == 250
    assert mail_as(r.port, "alice", "anyone@sql.test")[0] == 250
    code, resp = mail_as(r.port, "alice", "bob@example.org")
    assert (code, resp[:5]) == (553, b"5.7.1"), resp
    code, resp = mail_as(r.port, "bob", "alice@example.org")
    assert (code, resp[:5]) == (553, b"5.7.1"), resp


def test_sqlite_auth_senders_database_missing_is_451(factory):
    root = rv.make_root()
    creds = sqlite_creds(root, creds_rows())
    r = factory(root=root, extra=auth_config("sqlite", creds) + [
        'table sqlsenders sqlite "%s" query "%s"' % (os.path.join(root, "none.db"),
                                                       SENDERS_QUERY),
        "auth senders <sqlsenders>"])
    code, resp = mail_as(r.port, "alice", "alice@example.org")
    assert (code, resp[:5]) == (451, b"4.3.0"), resp
    assert r.proc.poll() is None
