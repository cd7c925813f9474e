"""A private PostgreSQL server for the SQL table tests: initdb into a
temporary directory, listening on 127.0.0.1 at a free port and on a unix
socket in that directory, trust authentication for its one user. Started
as root (the suite's normal case), the server runs as the `postgres`
account the Debian package made (PostgreSQL refuses to run as root); the
system's own cluster, if any, is never touched."""

import glob
import os
import pwd
import shutil
import subprocess
import time

import raven as rv

DB_USER = "raven"
DB_NAME = "mail"


def bindir():
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    return dirs[-1] if dirs and os.path.exists(os.path.join(dirs[-1], "initdb")) else None


def available():
    return bindir() is not None


class Postgres:
    def __init__(self, root):
        self.bin = bindir()
        self.dir = os.path.join(root, "pg")
        self.data = os.path.join(self.dir, "data")
        self.port = rv.free_port()
        self.account = None
        if os.geteuid() == 0:
            self.account = pwd.getpwnam("postgres")
        os.makedirs(self.dir, exist_ok=True)
        if self.account:
            os.chown(self.dir, self.account.pw_uid, self.account.pw_gid)
        self._run("initdb", "-D", self.data, "-U", DB_USER, "--auth=trust", "-E", "UTF8",
                  "--no-sync")

    def _drop(self):
        if self.account:
            os.setgid(self.account.pw_gid)
            os.setuid(self.account.pw_uid)

    def _run(self, prog, *args, timeout=60, check=True):
        return subprocess.run([os.path.join(self.bin, prog)] + list(args),
                              preexec_fn=self._drop, cwd=self.dir, timeout=timeout,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=check)

    def conninfo(self, tcp=True):
        if tcp:
            return "host=127.0.0.1 port=%d user=%s dbname=%s" % (self.port, DB_USER, DB_NAME)
        return "host=%s port=%d user=%s dbname=%s" % (self.dir, self.port, DB_USER, DB_NAME)

    def start(self):
        opts = "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off" % (self.port, self.dir)
        self._run("pg_ctl", "-D", self.data, "-o", opts, "-l",
                  os.path.join(self.dir, "log"), "-w", "-t", "30", "start", timeout=40)

    def stop(self):
        self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "30", "stop",
                  timeout=40, check=False)

    def create_db(self):
        self.psql("CREATE DATABASE %s" % DB_NAME, db="postgres")

    def psql(self, sql, db=DB_NAME):
        r = subprocess.run([os.path.join(self.bin, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                            "-h", "127.0.0.1", "-p", str(self.port), "-U", DB_USER, "-d", db,
                            "-c", sql], timeout=30, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        assert r.returncode == 0, r.stdout.decode(errors="replace")

    def log_tail(self, n=40):
        try:
            with open(os.path.join(self.dir, "log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
