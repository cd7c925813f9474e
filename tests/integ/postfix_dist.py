"""Where the Postfix used as a test and benchmark peer lives.

scripts/deps.sh (test, bench) unpacks Debian's postfix package privately
into <repo>/.cache/postfix instead of installing it, so that it never
becomes the machine's MTA. A Postfix installed system-wide works too.
The order:

  1. RAVEN_POSTFIX_ROOT, if set: the root of an unpacked package ("/" for
     the system's);
  2. <repo>/.cache/postfix, if it holds usr/sbin/postfix;
  3. "/", if /usr/sbin/postfix exists.

Debian's binaries carry RUNPATH=/usr/lib/postfix and compiled-in
directories under /usr and /etc. For a private copy, main_cf() gives the
main.cf lines that point Postfix at it, and env() the environment (the
library path) every Postfix command needs; Postfix passes only
import_environment on to its daemons, so the library path is listed there
too. bench/postfix.sh does the same in shell.
"""

import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRIVATE = os.path.join(REPO, ".cache", "postfix")


def root():
    """The root of the Postfix to use, or None when there is none."""
    r = os.environ.get("RAVEN_POSTFIX_ROOT")
    if r:
        return r
    if os.access(os.path.join(PRIVATE, "usr", "sbin", "postfix"), os.X_OK):
        return PRIVATE
    if os.access("/usr/sbin/postfix", os.X_OK):
        return "/"
    return None


def path(rel, r=None):
    """An absolute path inside the Postfix root (rel: "usr/sbin/postfix")."""
    return os.path.join(r or root() or "/", rel)


def private(r=None):
    r = r or root()
    return r is not None and os.path.realpath(r) != "/"


def env(r=None):
    """The environment for a Postfix command (a copy of os.environ)."""
    e = dict(os.environ)
    r = r or root()
    if private(r):
        libdir = path("usr/lib/postfix", r)
        e["LD_LIBRARY_PATH"] = libdir + (":" + e["LD_LIBRARY_PATH"]
                                         if e.get("LD_LIBRARY_PATH") else "")
    return e


def main_cf(r=None):
    """main.cf settings that make a private copy find itself ({} for "/")."""
    r = r or root()
    if not private(r):
        return {}
    return {
        "command_directory": path("usr/sbin", r),
        "daemon_directory": path("usr/lib/postfix/sbin", r),
        "shlib_directory": path("usr/lib/postfix", r),
        "meta_directory": path("etc/postfix", r),
        "import_environment": "MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C "
                              "POSTLOG_SERVICE POSTLOG_HOSTNAME LD_LIBRARY_PATH=%s"
                              % path("usr/lib/postfix", r),
    }


def version(r=None):
    """The packaged version, e.g. "3.7.11-0+deb12u1" (private copies), or None."""
    r = r or root()
    try:
        with open(path("VERSION", r)) as f:
            return f.read().strip()
    except OSError:
        return None
