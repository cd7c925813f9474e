"""Running Raven for real, as the README's "Install on Debian" does it:
`make install DESTDIR=...` gives a tree that runs and delivers, its man pages
render without a warning, its systemd unit passes `systemd-analyze verify`
and its capability bounding set and no_new_privs are enough to deliver and to
stop cleanly, `make uninstall` removes it all, and `make deb` builds a
package with the expected files that lintian does not object to. The
package is never installed here: it provides mail-transport-agent.

Each make runs in a build directory of its own under the test's temp dir
(a build without unit tests), never in the developer's build/. Skipped in
the sanitizer pass (make test runs this module once)."""

import grp
import os
import re
import shutil
import stat
import subprocess
import time

import pytest

import raven as rv

pytestmark = pytest.mark.skipif(os.environ.get("RAVEN_SANITIZED") == "1",
                                reason="install tests build their own tree; run once")

PREFIX = "/usr/local"
MAKE_TIMEOUT = 900
PAGES = ("man5/raven.conf.5", "man8/ravend.8", "man8/ravenctl.8", "man8/raven-sendmail.8")


def make(*args, timeout=MAKE_TIMEOUT):
    return subprocess.run(["make", "--no-print-directory", *args], cwd=rv.REPO,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def files_under(root):
    out = []
    for d, _, names in os.walk(root):
        for n in names:
            out.append(os.path.relpath(os.path.join(d, n), root))
    return sorted(out)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """make install DESTDIR=<tmp>/root, from a build directory of its own."""
    tmp = tmp_path_factory.mktemp("install")
    os.chmod(tmp, 0o755)
    build = tmp / "build"
    root = tmp / "root"
    subprocess.run(["meson", "setup", str(build), "-Dtests=false"], cwd=rv.REPO, check=True,
                   capture_output=True, stdin=subprocess.DEVNULL)
    p = make("install", "BUILD=%s" % build, "DESTDIR=%s" % root, "PREFIX=%s" % PREFIX)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return {"tmp": tmp, "build": build, "root": root, "prefix": str(root) + PREFIX}


def test_install_tree(installed):
    got = files_under(installed["root"])
    want = sorted([
        "usr/local/sbin/ravend",
        "usr/local/sbin/ravenctl",
        "usr/local/sbin/raven-sendmail",
        "usr/local/sbin/raven-postdrop",
        "usr/local/etc/raven/raven.conf",
        "usr/local/share/doc/raven/examples/raven.conf",
        "usr/local/lib/systemd/system/raven.service",
    ] + ["usr/local/share/man/%s" % p for p in PAGES])
    assert got == want
    for exe in ("ravend", "ravenctl", "raven-sendmail", "raven-postdrop"):
        assert os.access(os.path.join(installed["prefix"], "sbin", exe), os.X_OK)
    # the helper that writes into the maildrop: setgid raven-drop when make
    # install ran as root and the group exists (scripts/deps.sh makes it)
    st = os.stat(os.path.join(installed["prefix"], "sbin", "raven-postdrop"))
    try:
        gid = grp.getgrnam("raven-drop").gr_gid
    except KeyError:
        gid = None
    if os.geteuid() == 0 and gid is not None:
        assert st.st_gid == gid and st.st_mode & 0o7777 == 0o2755
    else:
        assert not st.st_mode & stat.S_ISGID
    with open(os.path.join(installed["prefix"], "etc/raven/raven.conf")) as f:
        assert f.read() == (rv.REPO / "dist" / "raven.conf").read_text()


def test_sample_config_is_valid(installed):
    """The sample passes `ravend -n` as written (root: users checked too)."""
    conf = os.path.join(installed["prefix"], "etc/raven/raven.conf")
    p = subprocess.run([os.path.join(installed["prefix"], "sbin/ravend"), "-n", "-c", conf],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    assert "is valid" in p.stderr


def sample_in(root, port):
    """The installed sample, with only its data directory, mailbox base and
    port moved into root (so the test does not touch /var/lib/raven or 25)."""
    text = (rv.REPO / "dist" / "raven.conf").read_text()
    data = os.path.join(root, "var")
    text = text.replace('data "/var/lib/raven"', 'data "%s"' % data)
    text = text.replace('maildir "/var/lib/raven/mail/%{user}"',
                        'maildir "%s/mail/%%{user}"' % data)
    text = text.replace("listen on 127.0.0.1 port 25", "listen on 127.0.0.1 port %d" % port)
    assert 'data "%s"' % data in text and '\naction "mailbox" maildir "%s/mail/' % data in text
    assert "port %d" % port in text
    if os.geteuid() != 0:
        text = re.sub(r'^user .*\n', '', text, flags=re.M)
    return text


def start_installed(installed, factory, wrapper=()):
    r = factory(start=False)
    with open(r.conf, "w") as f:
        f.write(sample_in(r.root, r.port))
    ravend = os.path.join(installed["prefix"], "sbin/ravend")
    logf = open(r.log, "ab")
    r.proc = subprocess.Popen(list(wrapper) + [ravend, "-c", r.conf, "-d"], cwd=r.root,
                              stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
    logf.close()
    r.known_pids.add(r.proc.pid)
    r.wait_ready()
    return r


def deliver_and_check(installed, r):
    token = rv.unique()
    rv.sendmail(r.port, "sender@remote.test", ["alice@localhost"],
                rv.make_message(token, to="alice@localhost"))
    r.wait_for("alice", token)
    ctl = os.path.join(installed["prefix"], "sbin/ravenctl")
    p = subprocess.run([ctl, "-c", r.conf, "status"], capture_output=True, text=True,
                       timeout=20, cwd=r.root)
    assert p.returncode == 0, p.stderr
    assert "listeners:  127.0.0.1:%d" % r.port in p.stdout


def test_installed_daemon_delivers(installed, factory):
    r = start_installed(installed, factory)
    deliver_and_check(installed, r)
    assert r.stop() == 0


@pytest.mark.parametrize("page", PAGES)
def test_man_page_renders(installed, page):
    path = os.path.join(installed["prefix"], "share/man", page)
    with open(path) as f:
        roff = f.read()
    assert roff.startswith((".\\\"", "'\\\" t")) and "\n.TH " in roff  # roff (t: has tables)
    env = dict(os.environ, MANWIDTH="80", LANG="C.UTF-8")
    if shutil.which("man"):
        p = subprocess.run(["man", "--warnings", "-l", path], capture_output=True, text=True,
                           env=env, timeout=60)
        assert p.returncode == 0, p.stderr
        assert p.stderr == "", p.stderr
        for heading in ("NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"):
            assert "\n%s\n" % heading in p.stdout, heading
    p = subprocess.run(["groff", "-ww", "-t", "-man", "-Tutf8", "-z", path],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    if shutil.which("lexgrog"):  # the NAME line whatis(1) and apropos(1) read
        p = subprocess.run(["lexgrog", path], capture_output=True, text=True, timeout=20)
        assert p.returncode == 0 and " - " in p.stdout, p.stdout + p.stderr


def unit_text(installed):
    with open(os.path.join(installed["prefix"], "lib/systemd/system/raven.service")) as f:
        return f.read()


def test_unit_verifies(installed, tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed (scripts/deps.sh test installs systemd)")
    text = unit_text(installed)
    assert "ExecStart=%s/sbin/ravend -d -c %s/etc/raven/raven.conf" % (PREFIX, PREFIX) in text
    # this build has libsystemd: ravend notifies readiness
    v = subprocess.run([rv.RAVEND, "-V"], capture_output=True, text=True).stdout
    want = "simple" if "libsystemd  not used" in v else "notify"
    assert "\nType=%s\n" % want in text
    # verify the installed file with its programs found in the DESTDIR tree
    unit = tmp_path / "raven.service"
    unit.write_text(text.replace(PREFIX + "/sbin/", installed["prefix"] + "/sbin/"))
    env = dict(os.environ, MANPATH=os.path.join(installed["prefix"], "share/man"))
    p = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                       env=env, timeout=60)
    assert p.returncode == 0 and p.stderr.strip() == "", p.stdout + p.stderr


def unit_setting(text, key):
    vals = [l.split("=", 1)[1] for l in text.splitlines() if l.startswith(key + "=")]
    assert len(vals) == 1, (key, vals)
    return vals[0]


def test_unit_privileges_are_enough(installed, factory):
    """ravend under exactly the unit's CapabilityBoundingSet and
    NoNewPrivileges (setpriv does what systemd does before the exec):
    accepts, delivers as the mailbox owner, answers status, stops cleanly."""
    if os.geteuid() != 0:
        pytest.skip("needs root, as the service does")
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is missing")
    text = unit_text(installed)
    caps = unit_setting(text, "CapabilityBoundingSet").split()
    assert unit_setting(text, "NoNewPrivileges") == "yes"
    bset = "-all," + ",".join("+" + c[len("CAP_"):].lower() for c in caps)
    wrapper = ["setpriv", "--bounding-set=" + bset, "--inh-caps=-all", "--no-new-privs"]
    r = start_installed(installed, factory, wrapper=wrapper)
    with open("/proc/%d/status" % r.pid) as f:
        status = f.read()
    assert "NoNewPrivs:\t1" in status
    deliver_and_check(installed, r)
    t0 = time.monotonic()
    assert r.stop() == 0
    assert time.monotonic() - t0 < 5, "the parent could not stop its roles"


def test_sendmail_links(installed):
    """SENDMAIL_LINKS=1 makes raven-sendmail the sendmail and mailq; make
    uninstall (below) removes the links with the rest."""
    p = make("install", "BUILD=%s" % installed["build"], "DESTDIR=%s" % installed["root"],
             "PREFIX=%s" % PREFIX, "SENDMAIL_LINKS=1")
    assert p.returncode == 0, p.stdout + p.stderr
    assert os.readlink(os.path.join(installed["prefix"], "sbin/sendmail")) == "raven-sendmail"
    assert os.readlink(os.path.join(installed["prefix"], "bin/mailq")) == "../sbin/raven-sendmail"
    p = subprocess.run([os.path.join(installed["prefix"], "sbin/sendmail"), "--version"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0 and "raven-sendmail" in p.stdout, p.stdout + p.stderr


def test_uninstall(installed):
    """Last: make uninstall removes everything; an edited configuration stays."""
    conf = os.path.join(installed["prefix"], "etc/raven/raven.conf")
    args = ["BUILD=%s" % installed["build"], "DESTDIR=%s" % installed["root"],
            "PREFIX=%s" % PREFIX]
    with open(conf, "a") as f:
        f.write("# edited\n")
    p = make("install", *args)  # never over an administrator's configuration
    assert p.returncode == 0, p.stdout + p.stderr
    assert "kept your %s" % conf in p.stdout
    with open(conf) as f:
        assert f.read().endswith("# edited\n")
    p = make("uninstall", *args)
    assert p.returncode == 0, p.stdout + p.stderr
    assert files_under(installed["root"]) == ["usr/local/etc/raven/raven.conf"]
    assert "Keeping %s (it was changed)" % conf in p.stdout
    os.unlink(conf)
    p = make("install", *args)
    assert p.returncode == 0, p.stdout + p.stderr
    p = make("uninstall", *args)
    assert p.returncode == 0, p.stdout + p.stderr
    assert files_under(installed["root"]) == []


def test_deb(tmp_path):
    if not shutil.which("dpkg-deb") or not shutil.which("dpkg-shlibdeps"):
        pytest.skip("dpkg-dev is not installed (scripts/deps.sh test)")
    build = tmp_path / "build-deb"
    p = make("deb", "DEB_BUILD=%s" % build)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    debs = [f for f in os.listdir(build) if f.endswith(".deb")]
    assert len(debs) == 1, debs
    deb = str(build / debs[0])
    listing = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True,
                             check=True).stdout
    names = sorted(l.split(" -> ")[0].split()[-1] for l in listing.splitlines()
                   if not l.startswith("d"))
    assert names == sorted([
        "./etc/raven/raven.conf",
        "./lib/systemd/system/raven.service",
        "./usr/sbin/ravenctl",
        "./usr/sbin/ravend",
        "./usr/sbin/raven-sendmail",
        "./usr/sbin/raven-postdrop",
        "./usr/sbin/sendmail",
        "./usr/bin/mailq",
        "./usr/share/man/man8/raven-sendmail.8.gz",
        "./usr/share/man/man8/raven-postdrop.8.gz",
        "./usr/share/man/man8/sendmail.8.gz",
        "./usr/share/man/man1/mailq.1.gz",
        "./usr/share/doc/raven/changelog.gz",
        "./usr/share/doc/raven/copyright",
        "./usr/share/doc/raven/examples/raven.conf",
        "./usr/share/man/man5/raven.conf.5.gz",
        "./usr/share/man/man8/ravenctl.8.gz",
        "./usr/share/man/man8/ravend.8.gz",
    ])
    for l in listing.splitlines():
        assert " root/root " in l, l

    def field(name):
        return subprocess.run(["dpkg-deb", "-f", deb, name], capture_output=True, text=True,
                              check=True).stdout.strip()
    assert field("Package") == "raven"
    for f in ("Provides", "Conflicts", "Replaces"):
        assert field(f) == "mail-transport-agent", f
    assert "libevent" in field("Depends") and "adduser" in field("Depends")
    info = subprocess.run(["dpkg-deb", "-I", deb, "conffiles"], capture_output=True, text=True,
                          check=True).stdout
    assert info.split() == ["/etc/raven/raven.conf"]
    postinst = subprocess.run(["dpkg-deb", "-I", deb, "postinst"], capture_output=True,
                              text=True, check=True).stdout
    for u in ("raven", "raven-net"):
        assert '"$u"' in postinst and u in postinst
    assert "addgroup --quiet --system raven-drop" in postinst
    assert "chmod 2755 /usr/sbin/raven-postdrop" in postinst
    if shutil.which("lintian"):
        p = subprocess.run(["lintian", "--fail-on", "error,warning", deb], capture_output=True,
                           text=True, timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
