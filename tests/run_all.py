#!/usr/bin/env python3
"""Runs every test suite and ends with one line: `N passed, N failed`.

Suites: Rust (cargo test, which also checks the committed headers), C host tests and the
C examples, the C tests again built with -fsanitize=address,undefined (asan) and under
valgrind memcheck, Python ctypes tests, PHP FFI tests, the load test (tests/load),
`install` (make install into a temporary prefix, then the examples built and run with only
pkg-config, the installed PHP class and the installed Python module), `docs` (every
example a host page shows is a file the tests run, shown verbatim), `fpm` (Debian's
php-fpm behind nginx with the recipe of docs/host-php.md: tests/fpm/run_fpm.py),
`composer` (the Composer package installed from a path repository into a fresh project)
and `pip` (`pip install bindings/python` into a fresh venv, offline).
All of them talk to carrier simulators on 127.0.0.1. Where php, php-fpm, nginx, composer,
valgrind or pkg-config is missing the suite is reported as SKIPPED; with CC_STRICT=1 (as .ci/run sets) a skip is
a failure.

Usage: tests/run_all.py [--only rust,c,asan,valgrind,python,php,load,install,docs,fpm,composer,pip]
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import host_suites

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import hot_symbols  # noqa: E402  (tools/hot_symbols.py: the hot code's layout)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "target", "debug")
STRICT = os.environ.get("CC_STRICT") == "1"
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-g"]

results = []  # (suite, passed, failed, note)


# Every failure line said, repeated just above the summary: a long run's log is often seen only by its end.
FAILURE_LINE = re.compile(r"^(FAIL\b.*|test \S+ \.\.\. FAILED|---- \S+ stdout ----|\[timed out.*)$", re.M)
failure_lines = []


def say(msg):
    failure_lines.extend(m.group(0) for m in FAILURE_LINE.finditer(msg))
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


def count_checks(output):
    passed = len(re.findall(r"^PASS ", output, re.M))
    failed = len(re.findall(r"^FAIL ", output, re.M))
    return passed, failed


def skip(suite, why):
    say(f"\n*** SKIPPED: {suite}: {why} ***\n")
    results.append((suite, 0, 1 if STRICT else 0, f"SKIPPED ({why})"))


def suite_rust():
    code, out = run(["cargo", "test", "--workspace", "--color", "never"], timeout=1500)
    sys.stdout.write(out)
    passed = sum(int(m) for m in re.findall(r"test result: \w+\. (\d+) passed", out))
    failed = sum(int(m) for m in re.findall(r"test result: \w+\. \d+ passed; (\d+) failed", out))
    if code != 0 and failed == 0:
        failed = 1  # a build failure or a crashed test binary
    results.append(("rust", passed, failed, ""))


def c_programs(build_dir):
    """Compiles the C tests and examples; returns [(name, path, args)] to run."""
    progs = []
    failed = 0
    for src in sorted(glob.glob(os.path.join(ROOT, "tests", "c", "test_*.c"))):
        name = os.path.splitext(os.path.basename(src))[0]
        exe = os.path.join(build_dir, name)
        code, out = run(["cc", *CFLAGS, "-I" + os.path.join(ROOT, "include"), "-I" + os.path.join(ROOT, "tests", "c"),
                         src, "-o", exe, "-L" + TARGET, "-lcallconnect", "-lpthread", "-Wl,-rpath," + TARGET])
        if code != 0:
            say(f"FAIL compile {name}\n{out}")
            failed += 1
            continue
        progs.append((name, exe))
    return progs, failed


def suite_c(env, build_dir):
    progs, failed = c_programs(build_dir)
    passed = 0
    # The examples must build with the strict flags and do their job against the simulator.
    code, out = run(["make", "-s", "-C", "examples-c", f"OUT={build_dir}/examples", f"LIBDIR={TARGET}"])
    if code != 0:
        say(out)
        failed += 1
    else:
        port = env["CC_SIM_PORT"]
        dsn42 = f"42call://demo:demo-secret@127.0.0.1:{port}?tls=0&default_country=49"
        for name, args in [("callback", [dsn42, "0171 1234567", "030 1234567"]),
                           ("sms", [dsn42, "0171 1234567|0171 7654321", "hello"]),
                           ("topup", [dsn42, "9" + str(int(time.time() * 1000))[-8:]])]:
            code, out = run([f"{build_dir}/examples/{name}", *args], env=env, timeout=120)
            ok = code == 0
            say(("PASS" if ok else "FAIL") + f" example {name}" + ("" if ok else "\n" + out))
            passed += ok
            failed += not ok
    for name, exe in progs:
        code, out = run([exe], env=env, timeout=300)
        p, f = count_checks(out)
        if code != 0 and f == 0:
            f = 1
            out += f"\nFAIL {name} exited with {code}\n"
        say(out)
        passed += p
        failed += f
    results.append(("c", passed, failed, ""))
    return progs


SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


def suite_asan(env, build_dir):
    """The C tests built with AddressSanitizer and UndefinedBehaviorSanitizer (and
    LeakSanitizer) against the library. The Rust library itself is not instrumented; what
    is checked is the C side and its use of the library's memory (every allocation goes
    through the sanitizer's malloc, so a leak or a double free across the boundary shows)."""
    passed = failed = 0
    asan_env = dict(env, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=98",
                    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=97", CC_SLOW_RUN="1")
    for src in sorted(glob.glob(os.path.join(ROOT, "tests", "c", "test_*.c"))):
        name = os.path.splitext(os.path.basename(src))[0]
        exe = os.path.join(build_dir, name + "-asan")
        code, out = run(["cc", *CFLAGS, *SANITIZE, "-I" + os.path.join(ROOT, "include"),
                         "-I" + os.path.join(ROOT, "tests", "c"), src, "-o", exe, "-L" + TARGET, "-lcallconnect",
                         "-lpthread", "-Wl,-rpath," + TARGET])
        if code != 0:
            failed += 1
            say(f"FAIL asan compile {name}\n{out}")
            continue
        code, out = run([exe], env=asan_env, timeout=600)
        p, f = count_checks(out)
        report = re.search(r"ERROR: (Address|Leak)Sanitizer|runtime error:", out)
        if code == 0 and f == 0 and p > 0 and not report:
            passed += 1
            say(f"PASS asan {name}: {p} checks, no sanitizer report")
        else:
            failed += 1
            say(f"FAIL asan {name} (exit {code})\n{out[-6000:]}")
    results.append(("asan", passed, failed, ""))


def suite_load():
    code, out = run([sys.executable, os.path.join(ROOT, "tests", "load", "run_load.py"),
                     "--threads", os.environ.get("CC_LOAD_THREADS", "16"),
                     "--cycles", os.environ.get("CC_LOAD_CYCLES", "500")], timeout=900)
    say(out)
    m = re.search(r"^# load: (\d+) passed, (\d+) failed", out, re.M)
    if not m:
        results.append(("load", 0, 1, "no summary"))
        return
    passed, failed = int(m.group(1)), int(m.group(2))
    if code != 0 and failed == 0:
        failed = 1
    results.append(("load", passed, failed, ""))


def suite_valgrind(env, progs):
    if not shutil.which("valgrind"):
        return skip("valgrind", "valgrind is not installed (apt-get install -y valgrind)")
    passed = failed = 0
    # CC_SLOW_RUN: fewer rounds of the thread tests (valgrind runs one thread at a time).
    # CC_TEST_TIMEOUT_MS: a budget per library call fit for memcheck's pace (tests/c/check.h);
    # --fair-sched=yes: the threads take turns, none waits behind the others for long.
    env = dict(env, CC_SLOW_RUN="1", CC_TEST_TIMEOUT_MS="60000")
    for name, exe in progs:
        began = time.monotonic()
        # tests/valgrind.supp: ring's assembly, which memcheck cannot follow (TLS tests).
        code, out = run(["valgrind", "--suppressions=" + os.path.join(ROOT, "tests", "valgrind.supp"),
                         "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
                         "--show-leak-kinds=definite,indirect", "--error-exitcode=99", "--fair-sched=yes", "--quiet", exe],
                        env=env, timeout=900)
        secs = time.monotonic() - began
        if code == 0:
            passed += 1
            say(f"PASS valgrind {name}: no leak, no error ({secs:.0f} s)")
        else:
            failed += 1
            # The first line that says why: a check that failed, memcheck's first report, a timeout.
            why = next((line for line in out.splitlines()
                        if line.startswith("FAIL") or re.match(r"==\d+== \S", line) or line.startswith("[timed out")),
                       "no FAIL line")
            say(f"FAIL valgrind {name} (exit {code}, {secs:.0f} s): {why}\n{out}")
    results.append(("valgrind", passed, failed, ""))


def suite_python(env):
    # This tree's debug build by name: the module would prefer a target/release, maybe older.
    env = dict(env, CALLCONNECT_LIB=os.path.join(TARGET, "libcallconnect.so"))
    code, out = run([sys.executable, os.path.join(ROOT, "tests", "python", "run.py")], env=env, timeout=900)
    say(out)
    m = re.search(r"^# python: (\d+) passed, (\d+) failed", out, re.M)
    if not m:
        results.append(("python", 0, 1, "no summary"))
        return
    passed, failed = int(m.group(1)), int(m.group(2))
    if code != 0 and failed == 0:
        failed = 1
    results.append(("python", passed, failed, ""))


def suite_php(env):
    php = shutil.which("php")
    if not php:
        return skip("php", "php is not installed (apt-get install -y php-cli)")
    code, out = run([php, "-r", "exit(extension_loaded('ffi') ? 0 : 1);"])
    if code != 0:
        return skip("php", "PHP's FFI extension is not loaded")
    passed = failed = 0
    # This tree's debug build by name: the class would prefer a target/release, maybe older.
    env = dict(env, CALLCONNECT_LIB=os.path.join(TARGET, "libcallconnect.so"))
    for script in sorted(glob.glob(os.path.join(ROOT, "tests", "php", "test_*.php"))):
        code, out = run([php, "-d", "ffi.enable=1", script], env=env, timeout=300)
        say(out)
        p, f = count_checks(out)
        if code != 0 and f == 0:
            f = 1
            say(f"FAIL {os.path.basename(script)} exited with {code}")
        passed += p
        failed += f
    results.append(("php", passed, failed, ""))


# ------------------------------------------------------------------ install and docs

# The build lines the host-C page gives; the install suite uses exactly these.
PKG_DYNAMIC = "cc app.c $(pkg-config --cflags --libs callconnect)"
PKG_STATIC = "cc -static app.c $(pkg-config --cflags --libs --static callconnect)"
PKG_ARCHIVE = ("cc app.c $(pkg-config --cflags callconnect) $(pkg-config --variable=libdir callconnect)/libcallconnect.a "
               "$(pkg-config --variable=native_static_libs callconnect)")
PKG_RPATH = "-Wl,-rpath,$(pkg-config --variable=libdir callconnect)"

# Pages and the example files they must show verbatim (and that the install suite runs).
DOC_EXAMPLES = {
    "README.md": ["tests/fpm/www/cc-event.php"],
    "docs/host-c.md": ["examples-c/callback.c"],
    "docs/host-php.md": ["examples-php/callback.php", "tests/fpm/30-callconnect.ini",
                         "tests/fpm/callconnect-preload.php", "tests/fpm/portal.conf", "tests/fpm/nginx-portal.conf",
                         "tests/fpm/portal-config.php", "tests/fpm/www/cc-event.php", "tests/fpm/www/portal.php",
                         "tests/composer/composer.json"],
    "docs/host-python.md": ["examples-python/callback.py"],
}
# Command lines the pages give that the suites run as they stand.
DOC_LINES = {
    "docs/host-python.md": [host_suites.PIP_INSTALL],
    "README.md": [host_suites.PIP_INSTALL],
}


def check(ok, name, detail=""):
    say(("PASS " if ok else "FAIL ") + name + ("" if ok or not detail else "\n" + detail))
    return bool(ok)


def suite_docs():
    passed = failed = 0
    for page, files in DOC_EXAMPLES.items():
        path = os.path.join(ROOT, page)
        text = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
        for f in files:
            body = open(os.path.join(ROOT, f), encoding="utf-8").read()
            ok = check(body in text, f"{page} shows {f} verbatim",
                       "edit the page: paste the file between its fences again")
            passed += ok
            failed += not ok
    # The short snippets around the examples must at least be valid code.
    php = shutil.which("php")
    for page in DOC_EXAMPLES:
        text = open(os.path.join(ROOT, page), encoding="utf-8").read()
        for n, (lang, code) in enumerate(re.findall(r"^```(\w+)\n(.*?)^```", text, re.M | re.S)):
            if lang == "python":
                try:
                    compile(code, f"{page} block {n}", "exec")
                    ok, why = True, ""
                except SyntaxError as e:
                    ok, why = False, str(e)
            elif lang == "php" and php:
                with tempfile.NamedTemporaryFile("w", suffix=".php", delete=False) as f:
                    f.write(code if code.startswith("<?php") else "<?php\n" + code)
                code_, why = run([php, "-l", f.name])
                os.unlink(f.name)
                ok = code_ == 0
            else:
                continue
            passed += check(ok, f"{page}: {lang} block {n} is valid {lang}", why)
            failed += not ok
    for page, lines in DOC_LINES.items():
        text = open(os.path.join(ROOT, page), encoding="utf-8").read()
        for line in lines:
            ok = check(line in text, f"{page} gives the tested command: {line}")
            passed += ok
            failed += not ok
    host_c = open(os.path.join(ROOT, "docs/host-c.md"), encoding="utf-8").read()
    for line in (PKG_DYNAMIC, PKG_STATIC, PKG_ARCHIVE, PKG_RPATH):
        ok = check(line in host_c, f"docs/host-c.md gives the tested build line: {line[:50]}")
        passed += ok
        failed += not ok
    results.append(("docs", passed, failed, ""))


def suite_install(env):
    for tool in ("pkg-config", "make"):
        if not shutil.which(tool):
            return skip("install", f"{tool} is not installed (apt-get install -y {tool})")
    passed = failed = 0

    def tally(ok):
        nonlocal passed, failed
        passed += bool(ok)
        failed += not ok
        return ok

    with tempfile.TemporaryDirectory(prefix="cc-install-") as tmp:
        prefix = os.path.join(tmp, "prefix")
        # Reuses target/release when it is fresh (the first run builds it: a minute or more).
        code, out = run(["make", "-s", "install", f"PREFIX={prefix}"], timeout=1800)
        if not check(code == 0, "make install", out):
            results.append(("install", 0, 1, ""))
            return
        with open(os.path.join(ROOT, "Cargo.toml")) as f:
            version = re.search(r'^version = "(.+)"', f.read(), re.M).group(1)
        major = version.split(".")[0]
        lib = os.path.join(prefix, "lib")
        for rel in [f"lib/libcallconnect.so.{version}", "lib/libcallconnect.a", "include/callconnect.h",
                    "include/callconnect_php.h", "lib/pkgconfig/callconnect.pc",
                    "share/callconnect/php/CallConnect.php", "share/callconnect/python/callconnect.py",
                    "bin/callconnect"]:
            tally(check(os.path.isfile(os.path.join(prefix, rel)), f"installed {rel}"))
        code, out = run([os.path.join(prefix, "bin", "callconnect"), "--version"])
        tally(check(code == 0 and out.strip() == f"callconnect {version}", "the installed callconnect runs", out))
        tally(check(os.readlink(os.path.join(lib, f"libcallconnect.so.{major}")) == f"libcallconnect.so.{version}",
                    "soname link"))
        tally(check(os.readlink(os.path.join(lib, "libcallconnect.so")) == f"libcallconnect.so.{major}", "dev link"))
        code, out = run(["readelf", "-d", os.path.join(lib, f"libcallconnect.so.{version}")])
        tally(check(f"Library soname: [libcallconnect.so.{major}]" in out, f"soname is libcallconnect.so.{major}", out))
        # The code a first client and call run is laid out together (build.rs, tools/hot-symbols.txt):
        # the file names the library's symbols, and the linker put them side by side.
        ok, found = hot_symbols.laid_out(os.path.join(lib, f"libcallconnect.so.{version}"))
        tally(check(ok, f"the hot code is laid out together: {found} (if not: make hot-symbols)"))

        # From here on only the installed files: no build tree, no LD_LIBRARY_PATH.
        ienv = {k: v for k, v in env.items() if k not in ("LD_LIBRARY_PATH", "CALLCONNECT_LIB", "CALLCONNECT_HEADER",
                                                          "PYTHONPATH", "CALLCONNECT_LOG")}
        ienv["PKG_CONFIG_PATH"] = os.path.join(lib, "pkgconfig")
        sh = lambda cmd, **kw: run(["sh", "-c", cmd], env=ienv, **kw)  # noqa: E731
        code, out = sh("pkg-config --modversion callconnect")
        tally(check(out.strip() == version, f"pkg-config says {version}", out))
        code, out = sh("pkg-config --static --libs callconnect")
        tally(check(all(f in out.split() for f in ("-lcallconnect", "-lpthread", "-ldl", "-lm")),
                    "pkg-config --static --libs names the system libraries", out))

        build = os.path.join(tmp, "build")
        os.makedirs(build)
        sources = [os.path.join(ROOT, "examples-c", f"{n}.c") for n in ("callback", "sms", "topup")]
        sources += sorted(glob.glob(os.path.join(ROOT, "tests", "c", "test_*.c")))
        variants = {
            "dynamic": PKG_DYNAMIC + " " + PKG_RPATH,
            "static": PKG_STATIC,
            "archive": PKG_ARCHIVE,
        }
        flags = " ".join(CFLAGS)
        built = []
        for variant, line in variants.items():
            for src in sources:
                name = os.path.splitext(os.path.basename(src))[0]
                if variant == "archive" and name != "callback":
                    continue  # the third form once is enough
                exe = os.path.join(build, f"{name}-{variant}")
                extra = "-I" + os.path.join(ROOT, "tests", "c") if name.startswith("test_") else ""
                cmd = line.replace("cc ", f"cc {flags} {extra} -o {exe} ", 1).replace("app.c", src)
                code, out = sh(cmd, timeout=600, cwd=build)
                if tally(check(code == 0, f"build {name} ({variant}) with pkg-config only", cmd + "\n" + out)):
                    built.append((name, variant, exe))
        for name, variant, exe in built:
            code, out = run(["readelf", "-d", exe])
            needs_lib = "libcallconnect.so" in out
            if variant == "dynamic":
                tally(check(f"libcallconnect.so.{major}" in out, f"{name} ({variant}) links libcallconnect.so.{major}"))
            else:
                tally(check(not needs_lib, f"{name} ({variant}) needs no libcallconnect.so", out))
            if variant == "static":
                tally(check("(NEEDED)" not in out, f"{name} ({variant}) is fully static", out))

        port = env["CC_SIM_PORT"]
        dsn42 = f"42call://demo:demo-secret@127.0.0.1:{port}?tls=0&default_country=49"
        example_args = {"callback": [dsn42, "0171 1234567", "030 1234567"],
                        "sms": [dsn42, "0171 1234567", "installed"],
                        "topup": [dsn42, "9"]}
        for name, variant, exe in built:
            if name in example_args:
                args = example_args[name]
                if name == "topup":  # a fresh PIN for each run: a PIN is worth something once
                    args = [dsn42, f"9{list(variants).index(variant) + 1}{int(time.time() * 1000) % 10**8:08d}"]
                code, out = run([exe, *args], env=ienv, timeout=120, cwd=build)
                ok = code == 0 and (name != "callback" or ("INITIATING" in out and "ENDED" in out))
                tally(check(ok, f"run {name} ({variant}) against the simulator", out))
            else:
                code, out = run([exe], env=ienv, timeout=300, cwd=build)
                p, f = count_checks(out)
                tally(check(code == 0 and f == 0 and p > 0, f"run {name} ({variant}): {p} checks passed, {f} failed",
                            out))

        # Python with only the installed module.
        pydir = os.path.join(prefix, "share", "callconnect", "python")
        penv = dict(ienv, PYTHONPATH=pydir)
        code, out = run([sys.executable, "-c", "import callconnect; print(callconnect.library_path())"],
                        env=penv, cwd=build)
        tally(check(code == 0 and out.strip().startswith(lib), "the installed Python module loads the installed library",
                    out))
        code, out = run([sys.executable, os.path.join(ROOT, "examples-python", "callback.py"), dsn42,
                         "0171 1234567", "030 1234567"], env=penv, timeout=120, cwd=build)
        tally(check(code == 0 and "INITIATING" in out and "ENDED" in out,
                    "examples-python/callback.py with the installed module", out))

        # PHP with only the installed class (the CLI's default ffi.enable=preload).
        php = shutil.which("php")
        if not php:
            if STRICT:
                tally(check(False, "php is missing"))
        else:
            phpdir = os.path.join(prefix, "share", "callconnect", "php")
            inc = ["-d", f"include_path={phpdir}"]
            probe = "require 'CallConnect.php'; echo CallConnect\\Library::loadedFrom();"
            code, out = run([php, *inc, "-r", probe], env=ienv, cwd=build)
            tally(check(code == 0 and out.strip() == f"load {prefix}/include/callconnect_php.h",
                        "the installed PHP class loads the installed header (FFI_LIB names the library)", out))
            # ffi.preload registers the scope at startup, as PHP-FPM would (docs/host-php.md).
            code, out = run([php, *inc, "-d", f"ffi.preload={prefix}/include/callconnect_php.h", "-r", probe],
                            env=ienv, cwd=build)
            tally(check(code == 0 and out.strip() == "scope CALLCONNECT", "ffi.preload: FFI::scope(\"CALLCONNECT\")",
                        out))
            code, out = run([php, *inc, os.path.join(ROOT, "examples-php", "callback.php"), dsn42,
                             "0171 1234567", "030 1234567"], env=ienv, timeout=120, cwd=build)
            tally(check(code == 0 and "INITIATING" in out and "ENDED" in out,
                        "examples-php/callback.php with the installed class", out))
        code, out = run(["make", "-s", "uninstall", f"PREFIX={prefix}"])
        left = [os.path.join(d, f) for d, _, fs in os.walk(prefix) for f in fs]
        tally(check(code == 0 and not left, "make uninstall removes every file", "\n".join(left) + out))
    results.append(("install", passed, failed, ""))


def start_simulator(tls_dir, step_ms="50"):
    """The simulator, on plain HTTP and (tls_dir) over HTTPS with a test CA it writes there:
    ca.pem, tls_port (a certificate from that CA), selfsigned_port."""
    port_file = tempfile.mktemp(prefix="cc-sim-port-")
    sim = subprocess.Popen([os.path.join(TARGET, "callconnect-sim"), "--port", "0", "--step-ms", step_ms,
                            "--port-file", port_file, "--tls-dir", tls_dir, "--stdin-eof"], stdin=subprocess.PIPE,
                           stdout=subprocess.DEVNULL)
    for _ in range(200):
        if os.path.exists(port_file):
            with open(port_file) as f:
                port = f.read().strip()
            os.unlink(port_file)
            return sim, port
        time.sleep(0.05)
    sim.kill()
    raise SystemExit("the simulator did not start")


def start_redis():
    """A real redis-server for the C, Python and PHP tests of the call-state store:
    127.0.0.1, a free port, no persistence, a temporary directory. Its URL goes to the
    tests as CC_TEST_REDIS; missing redis-server: (None, None), and those tests skip (a
    failure under CC_STRICT=1). The Rust tests start their own (tests/common/redis.rs)."""
    exe = shutil.which("redis-server")
    if not exe:
        say("\n*** redis-server is not installed (apt-get install -y redis-server): "
            "the store tests of C, Python and PHP skip ***\n")
        return None, None
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rdir = tempfile.mkdtemp(prefix="cc-redis-")
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", rdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            proc.rdir = rdir
            return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server did not start")


def build():
    code, out = run(["cargo", "build", "--workspace", "--color", "never"], timeout=1500)
    if code != 0:
        say(out)
        raise SystemExit("cargo build failed\n0 passed, 1 failed")
    link = os.path.join(TARGET, "libcallconnect.so.0")
    if not os.path.lexists(link):
        os.symlink("libcallconnect.so", link)


def main():
    only = None
    if len(sys.argv) > 2 and sys.argv[1] == "--only":
        only = set(sys.argv[2].split(","))
    want = lambda s: only is None or s in only  # noqa: E731
    build()
    if want("rust"):
        suite_rust()
    tls_dir = tempfile.mkdtemp(prefix="cc-sim-tls-")
    sim, port = start_simulator(tls_dir)

    def tls_port(name):
        with open(os.path.join(tls_dir, name)) as f:
            return f.read().strip()
    env = dict(os.environ, CC_SIM_PORT=port, LD_LIBRARY_PATH=TARGET, CC_SIM_CA_FILE=os.path.join(tls_dir, "ca.pem"),
               CC_SIM_TLS_PORT=tls_port("tls_port"), CC_SIM_SELFSIGNED_PORT=tls_port("selfsigned_port"))
    redis, redis_url = start_redis()
    if redis_url:
        env["CC_TEST_REDIS"] = redis_url
    try:
        with tempfile.TemporaryDirectory(prefix="cc-c-") as build_dir:
            progs = []
            if want("c") or want("valgrind"):
                progs = suite_c(env, build_dir)
            if want("asan"):
                suite_asan(env, build_dir)
            if want("valgrind"):
                suite_valgrind(env, progs)
        if want("python"):
            suite_python(env)
        if want("php"):
            suite_php(env)
        if want("install"):
            suite_install(env)
        if want("docs"):
            suite_docs()
        for name in ("composer", "pip", "fpm"):  # tests/host_suites.py
            if want(name):
                results.append(getattr(host_suites, "suite_" + name)(env))
        if want("load"):
            suite_load()
    finally:
        sim.stdin.close()
        sim.wait(timeout=10)
        shutil.rmtree(tls_dir, ignore_errors=True)
        if redis:
            redis.kill()
            redis.wait(timeout=10)
            shutil.rmtree(redis.rdir, ignore_errors=True)
    say("")
    if failure_lines:
        print(f"failures ({len(failure_lines)}):", flush=True)
        for line in failure_lines[:40]:
            print("  " + line[:300], flush=True)
        say("")
    for suite, p, f, note in results:
        say(f"  {suite:9} {p:5} passed, {f} failed {note}")
    total_p = sum(r[1] for r in results)
    total_f = sum(r[2] for r in results)
    say(f"{total_p} passed, {total_f} failed")
    return 0 if total_f == 0 and total_p > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
