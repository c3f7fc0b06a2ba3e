#!/usr/bin/env python3
"""Runs every test suite and ends with one line: `N passed, N failed`.

Suites: Rust (cargo test, which also checks the committed headers), C host tests and the
C examples, the C tests again built with -fsanitize=address,undefined (asan) and under
valgrind memcheck, Python ctypes tests, PHP FFI tests, and the load test (tests/load).
All of them talk to carrier simulators on 127.0.0.1. Where php or valgrind is missing
the suite is reported as SKIPPED; with CC_STRICT=1 (as .ci/run sets) a skip is a failure.

Usage: tests/run_all.py [--only rust,c,asan,valgrind,python,php,load]
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "target", "debug")
STRICT = os.environ.get("CC_STRICT") == "1"
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-g"]

results = []  # (suite, passed, failed, note)


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
    env = dict(env, CC_SLOW_RUN="1")
    for name, exe in progs:
        code, out = run(["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
                         "--show-leak-kinds=definite,indirect", "--error-exitcode=99", "--quiet", exe],
                        env=env, timeout=900)
        if code == 0:
            passed += 1
            say(f"PASS valgrind {name}: no leak, no error")
        else:
            failed += 1
            say(f"FAIL valgrind {name} (exit {code})\n{out}")
    results.append(("valgrind", passed, failed, ""))


def suite_python(env):
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


def start_simulator(step_ms="50"):
    port_file = tempfile.mktemp(prefix="cc-sim-port-")
    sim = subprocess.Popen([os.path.join(TARGET, "callconnect-sim"), "--port", "0", "--step-ms", step_ms,
                            "--port-file", port_file, "--stdin-eof"], stdin=subprocess.PIPE,
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
    sim, port = start_simulator()
    env = dict(os.environ, CC_SIM_PORT=port, LD_LIBRARY_PATH=TARGET)
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
        if want("load"):
            suite_load()
    finally:
        sim.stdin.close()
        sim.wait(timeout=10)
    say("")
    for suite, p, f, note in results:
        say(f"  {suite:9} {p:5} passed, {f} failed {note}")
    total_p = sum(r[1] for r in results)
    total_f = sum(r[2] for r in results)
    say(f"{total_p} passed, {total_f} failed")
    return 0 if total_f == 0 and total_p > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
