"""pytest fixtures for Raven's integration tests: every test gets ravend
instances in their own temp directories and ports (and, with postfix_peer, a
private Postfix: postfix_peer.py); a failing test shows the tail of each
daemon's log. RAVEN_KEEP=1 keeps the temp directories."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fakedns as fdns  # noqa: E402
import raven as rv  # noqa: E402
from postfix_peer import PeerFactory, postfix_peer  # noqa: E402,F401  (a fixture for every module)

KEEP = os.environ.get("RAVEN_KEEP") == "1"


def pytest_sessionstart(session):
    if not os.access(rv.RAVEND, os.X_OK):
        pytest.exit("ravend not built: %s is missing (build it, or set RAVEND)" % rv.RAVEND,
                    returncode=1)


def pytest_report_header(config):
    return "ravend: %s; euid %d; unprivileged user for root runs: %s" % (
        rv.RAVEND, os.geteuid(), rv.run_user())


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")


class Factory:
    """Creates Raven instances and tears them all down."""

    def __init__(self):
        self.instances = []

    def __call__(self, start=True, **opts):
        r = rv.Raven(**opts)
        self.instances.append(r)
        if start:
            r.start()
        return r

    def teardown(self):
        reports = []
        for r in self.instances:
            # Under the ASan+UBSan build a memory error kills a role that the
            # parent then restarts: the tests may pass, the log tells.
            text = r.log_text()
            for marker in SANITIZER_MARKERS:
                if marker in text:
                    at = text.index(marker)
                    reports.append("%s in %s:\n%s" % (marker, r.log, text[max(0, at - 200):at + 3000]))
                    break
            try:
                r.cleanup(keep=KEEP)
            except Exception as e:  # keep tearing the others down
                print("teardown of %s failed: %s" % (r.root, e))
        if reports:
            raise AssertionError("sanitizer report in ravend's log:\n" + "\n".join(reports))


def _instances(item):
    out = []
    for v in getattr(item, "funcargs", {}).values():
        if isinstance(v, rv.Raven):
            out.append(v)
        elif isinstance(v, Factory):
            out.extend(v.instances)
        elif isinstance(v, PeerFactory):
            out.extend(v.peers)
    return out


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and call.when in ("setup", "call"):
        seen = set()
        for r in _instances(item):
            if id(r) in seen:
                continue
            seen.add(id(r))
            name = "ravend log " if isinstance(r, rv.Raven) else "postfix maillog "
            rep.sections.append((name + r.root, r.log_tail(80)))


@pytest.fixture
def factory():
    f = Factory()
    yield f
    f.teardown()


@pytest.fixture
def raven(factory):
    """A started ravend with the default test configuration."""
    return factory()


@pytest.fixture(scope="module")
def shared_raven():
    """One ravend for a whole module of tests that only need the defaults."""
    f = Factory()
    # generous connection limits: sessions of consecutive tests may overlap
    # for a moment while the daemon notices the previous close
    try:
        yield f(per_ip=50, connections=100)
    finally:
        f.teardown()


@pytest.fixture
def fakedns():
    """A started fake DNS server (fakedns.FakeDNS) on 127.0.0.1, UDP and TCP
    on dns.port; the test adds records and failures. Stopped afterwards."""
    server = fdns.FakeDNS().start()
    try:
        yield server
    finally:
        server.stop()
