"""The real hosts' suites of tests/run_all.py: `composer` (the Composer package from a
path repository into a fresh project, offline), `pip` (`pip install bindings/python` into
a fresh venv, offline, then nothing else installed) and `fpm` (tests/fpm/run_fpm.py:
Debian's php-fpm behind nginx with the recipe of docs/host-php.md). Each returns
(suite, passed, failed, note) for run_all's summary; a missing tool is a skip, which is
a failure under CC_STRICT=1."""
import filecmp
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STRICT = os.environ.get("CC_STRICT") == "1"
# The command docs/host-python.md and the README give; the pip suite runs it as it stands.
PIP_INSTALL = "pip install --no-index --find-links /usr/share/python-wheels bindings/python"
STATES = {"INITIATING", "RINGING_A", "A_ANSWERED", "RINGING_B", "CONNECTED", "ENDED", "FAILED"}


def say(msg):
    print(msg, flush=True)


def run(cmd, env=None, timeout=600, cwd=ROOT):
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, text=True, errors="replace")
        return p.returncode, p.stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout or ""
        if isinstance(out, bytes):
            out = out.decode(errors="replace")
        return 124, out + f"\n[timed out after {timeout}s]\n"


def check(ok, name, detail=""):
    say(("PASS " if ok else "FAIL ") + name + ("" if ok or not detail else "\n" + detail))
    return bool(ok)


def skip(suite, why):
    say(f"\n*** SKIPPED: {suite}: {why} ***\n")
    return (suite, 0, 1 if STRICT else 0, f"SKIPPED ({why})")


class Tally:
    def __init__(self):
        self.passed = self.failed = 0

    def __call__(self, ok):
        self.passed += bool(ok)
        self.failed += not ok
        return ok


def suite_fpm(env):
    code, out = run([sys.executable, os.path.join(ROOT, "tests", "fpm", "run_fpm.py")], timeout=1800)
    say(out)
    m = re.search(r"^SKIP (.+)$", out, re.M)
    if m:
        return skip("fpm", m.group(1))
    m = re.search(r"^# fpm: (\d+) passed, (\d+) failed", out, re.M)
    if not m:
        return ("fpm", 0, 1, "no summary")
    passed, failed = int(m.group(1)), int(m.group(2))
    if code != 0 and failed == 0:
        failed = 1
    return ("fpm", passed, failed, "")


def host_env(env, **extra):
    """The environment of a host that has only what it installed: no build tree on the
    loader's path, no pkg-config directory but the ones given."""
    clean = {k: v for k, v in env.items() if k not in ("LD_LIBRARY_PATH", "CALLCONNECT_LIB", "CALLCONNECT_HEADER",
                                                       "PYTHONPATH", "CALLCONNECT_LOG", "PKG_CONFIG_PATH")}
    clean["PKG_CONFIG_LIBDIR"] = ""  # not this machine's /usr/local: only what a check names
    clean.update(extra)
    return clean


def install_prefix(tmp):
    prefix = os.path.join(tmp, "prefix")
    code, out = run(["make", "-s", "install", f"PREFIX={prefix}"], timeout=1800)
    return prefix if check(code == 0, "make install into a temporary prefix", out) else None


def source_tree_copy(tmp):
    """A source tree with both builds: the wrappers, the header, and target/debug and
    target/release libraries (links to this tree's)."""
    tree = os.path.join(tmp, "tree")
    for rel in ("bindings/php/CallConnect.php", "bindings/python/callconnect.py", "include/callconnect_php.h"):
        os.makedirs(os.path.dirname(os.path.join(tree, rel)), exist_ok=True)
        shutil.copy(os.path.join(ROOT, rel), os.path.join(tree, rel))
    for profile in ("debug", "release"):
        os.makedirs(os.path.join(tree, "target", profile))
        os.symlink(os.path.join(ROOT, "target", profile, "libcallconnect.so"),
                   os.path.join(tree, "target", profile, "libcallconnect.so"))
    return tree


def suite_composer(env):
    php, composer = shutil.which("php"), shutil.which("composer")
    if not php or not composer:
        return skip("composer", "php or composer is not installed (apt-get install -y php-cli composer)")
    tally = Tally()

    with tempfile.TemporaryDirectory(prefix="cc-composer-") as tmp:
        prefix = install_prefix(tmp)
        if not prefix:
            return ("composer", 0, 1, "")
        # The package as a release would ship it: the repository's files, no build output.
        pkg = os.path.join(tmp, "callconnect")
        code, out = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        for rel in out.split("\0"):
            if rel and os.path.isfile(os.path.join(ROOT, rel)):
                os.makedirs(os.path.dirname(os.path.join(pkg, rel)), exist_ok=True)
                shutil.copy(os.path.join(ROOT, rel), os.path.join(pkg, rel))
        app = os.path.join(tmp, "app")
        os.makedirs(app)
        with open(os.path.join(ROOT, "tests", "composer", "composer.json"), encoding="utf-8") as f:
            project = f.read().replace("/path/to/callconnect", pkg)
        with open(os.path.join(app, "composer.json"), "w", encoding="utf-8") as f:
            f.write(project)
        cenv = host_env(env, COMPOSER_HOME=os.path.join(tmp, "composer-home"), COMPOSER_DISABLE_NETWORK="1",
                        COMPOSER_CACHE_DIR=os.path.join(tmp, "composer-cache"), COMPOSER_ALLOW_SUPERUSER="1")
        code, out = run([composer, "install", "--no-interaction", "--no-progress"], env=cenv, cwd=app, timeout=600)
        tally(check(code == 0, "composer install from a path repository, offline", out))
        code, out = run([composer, "validate", "--no-check-publish", "--no-check-lock"], env=cenv, cwd=ROOT)
        tally(check(code == 0, "composer validate: the project's composer.json", out))
        installed = os.path.join(app, "vendor", "callconnect", "callconnect", "bindings", "php", "CallConnect.php")
        tally(check(os.path.isfile(installed) and not os.path.islink(os.path.dirname(os.path.dirname(installed))),
                    "the package is copied into vendor/"))
        port = env["CC_SIM_PORT"]
        dsn42 = f"42call://demo:demo-secret@127.0.0.1:{port}?tls=0&default_country=49"
        probe = os.path.join(ROOT, "tests", "composer", "probe.php")
        lib = os.path.join(prefix, "lib", "libcallconnect.so.0")
        cases = [
            ("pkg-config", {"PKG_CONFIG_PATH": os.path.join(prefix, "lib", "pkgconfig")}, [],
             f"load {prefix}/include/callconnect_php.h"),
            ("CALLCONNECT_LIB", {"CALLCONNECT_LIB": lib}, [], f"cdef {lib}"),
            ("the constructor's argument", {}, [lib], f"cdef {lib}"),
        ]
        for name, extra, args, expect in cases:
            code, out = run([php, probe, app, dsn42, *args], env=dict(cenv, **extra), cwd=app, timeout=120)
            try:
                got = json.loads(out.strip().splitlines()[-1])
            except (ValueError, IndexError):
                got = {}
            tally(check(code == 0 and got.get("loaded") == expect and got.get("state") in STATES
                        and os.path.realpath(got.get("class_file", "")) == os.path.realpath(installed),
                        f"autoloaded class finds the installed library by {name}: {got.get('loaded')}", out))
        _, cache = run(["sh", "-c", "/sbin/ldconfig -p 2>/dev/null"])
        if "libcallconnect.so" not in cache:  # else the system loader finds one: not a host with nothing
            code, out = run([php, probe, app, dsn42], env=cenv, cwd=app, timeout=120)
            tally(check(code != 0 and "set CALLCONNECT_LIB" in out,
                        "without any of them: an error that says what to set", out))

        # Release before debug, and CALLCONNECT_LOG=debug says which one.
        tree = source_tree_copy(tmp)
        code, out = run([php, "-d", "ffi.enable=1", "-r",
                         f"require '{tree}/bindings/php/CallConnect.php'; echo CallConnect\\Library::loadedFrom();"],
                        env=host_env(env, CALLCONNECT_LOG="debug"), cwd=tmp)
        release = f"{tree}/target/release/libcallconnect.so"
        tally(check(code == 0 and out.strip().endswith(f"cdef {release}")
                    and f"library loaded by cdef {release}" in out,
                    "a source tree with both builds: the class loads target/release, and says so at debug", out))
    return ("composer", tally.passed, tally.failed, "")


def suite_pip(env):
    wheels = "/usr/share/python-wheels"
    need = [w for w in ("setuptools", "wheel") if not glob.glob(os.path.join(wheels, w + "-*.whl"))]
    if need:
        return skip("pip", f"no {', '.join(need)} wheel in {wheels} "
                           "(apt-get install -y python3-setuptools-whl python3-wheel-whl)")
    tally = Tally()

    with tempfile.TemporaryDirectory(prefix="cc-pip-") as tmp:
        # The release library the wheel carries.
        code, out = run(["make", "-s", "release"], timeout=1800)
        if not check(code == 0, "make release", out):
            return ("pip", 0, 1, "")
        venv = os.path.join(tmp, "venv")
        # Debian's python3, whose setuptools wheel (Debian-patched) is the one in python-wheels.
        python3 = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        code, out = run([python3, "-m", "venv", venv])
        tally(check(code == 0, "python3 -m venv: a fresh environment", out))
        vpy = os.path.join(venv, "bin", "python")
        penv = host_env(env)
        # The page's command, run from the source tree with the venv's pip.
        cmd = PIP_INSTALL.split()
        code, out = run([vpy, "-m", *cmd], env=penv, timeout=900)
        tally(check(code == 0, f"{PIP_INSTALL} (offline: build requirements from Debian's wheels)", out))
        code, out = run([vpy, "-m", "pip", "show", "-f", "callconnect"], env=penv, cwd=tmp)
        tally(check(code == 0 and "callconnect/libcallconnect.so.0" in out and "callconnect/__init__.py" in out,
                    "the installed package holds the module and the release library", out))
        probe = ("import logging, sys; logging.basicConfig(level=logging.DEBUG, stream=sys.stdout); "
                 "import callconnect; print('PATH', callconnect.library_path())")
        code, out = run([vpy, "-c", probe], env=penv, cwd=tmp)
        m = re.search(r"^PATH (.+)$", out, re.M)
        path = m.group(1) if m else ""
        tally(check(code == 0 and path.startswith(venv) and path.endswith("callconnect/libcallconnect.so.0")
                    and f"library loaded from {path}" in out,
                    "the venv's module loads the library the wheel carries, and says so at DEBUG", out))
        release_lib = os.path.join(ROOT, "target", "release", "libcallconnect.so")
        tally(check(bool(path) and filecmp.cmp(path, release_lib, shallow=False),
                    "the wheel's library is target/release's", path))
        port = env["CC_SIM_PORT"]
        dsn42 = f"42call://demo:demo-secret@127.0.0.1:{port}?tls=0&default_country=49"
        code, out = run([vpy, os.path.join(ROOT, "examples-python", "callback.py"), dsn42, "0171 1234567",
                         "030 1234567"], env=penv, timeout=120, cwd=tmp)
        tally(check(code == 0 and "INITIATING" in out and "ENDED" in out,
                    "examples-python/callback.py in the venv, nothing else installed", out))
        code, out = run([vpy, "-m", "pip", "uninstall", "-y", "callconnect"], env=penv, cwd=tmp)
        left = glob.glob(os.path.join(venv, "lib", "python*", "site-packages", "callconnect*"))
        tally(check(code == 0 and not left, "pip uninstall removes it", out + "\n".join(left)))

        # Release before debug, from a source tree with both builds.
        tree = source_tree_copy(tmp)
        code, out = run([sys.executable, "-c", probe], env=dict(host_env(env), PYTHONPATH=f"{tree}/bindings/python"),
                        cwd=tmp)
        release = f"{tree}/target/release/libcallconnect.so"
        tally(check(code == 0 and f"PATH {release}" in out and f"library loaded from {release}" in out,
                    "a source tree with both builds: the module loads target/release, and says so at DEBUG", out))
    return ("pip", tally.passed, tally.failed, "")

