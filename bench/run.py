#!/usr/bin/env python3
"""`make bench`: the library's cost next to raw libcurl and Python `requests`, in one run.

Against the simulator in instant mode (release build, loopback), the same 42call request
is made by (1) the library from C (bench_lib.c), (2) a C program using libcurl directly
with keep-alive (bench_curl.c), (3) Python `requests` with a keep-alive Session. The
three run in turns, ROUNDS times, so that a busy machine weighs on all of them alike;
ratios are taken round by round and their median is reported. Then: the library's
throughput with 1, 2, 4, 8 threads, the cost of polling a call that is already final,
resident memory per live call handle at 10 000 handles, the size of the stripped .so, and the
built-in event listener (bench/listener.py: events per second, latency under 500 idle
connections).

Prints a Markdown report (also written to target/bench-report.md).

usage: bench/run.py [--rounds 5] [--n 2000]
Needs: cc, libcurl's headers (libcurl4-openssl-dev), Python requests (tools/bench-deps.sh).
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from listener import listener_rows

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")
USER, PASSWORD = "test-bench", "secret-test-bench"


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, **kw).stdout


def sign(user, password):
    """42call's signature (DESIGN.md §8): valid for 180 s."""
    x_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.000000 GMT+0000")
    key = hashlib.md5(password.encode()).hexdigest()
    mac = hmac.new(key.encode(), (key + "\n" + x_date).encode(), hashlib.sha1).digest()
    return x_date, f"{user}:{base64.b64encode(mac).decode()}"


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    curl = sh(["curl-config", "--version"]).strip() if shutil_which("curl-config") else "?"
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "rustc": sh(["rustc", "--version"]).strip(),
        "cc": sh(["cc", "--version"]).splitlines()[0],
        "libcurl": curl,
        "python": platform.python_version(),
        "requests": sh([sys.executable, "-c", "import requests; print(requests.__version__)"]).strip(),
        "load": open("/proc/loadavg").read().split()[:3],
    }


def callgrind(cmd, toggles, tmp):
    """Instructions executed inside the `toggles` functions."""
    out = os.path.join(tmp, "callgrind.out")
    p = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                        *[f"--toggle-collect={t}" for t in toggles], *cmd],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
    m = re.search(r"Collected : (\d+)", p.stderr)
    return int(m.group(1))


def shutil_which(name):
    import shutil
    return shutil.which(name)


def poll_event_fed(lib_exe, tmp, run_json):
    """cc_poll_status on a live, event-fed PokeTALK call: a slow simulator (one stage every
    3 s) keeps the call ringing while the polls are timed; the events come to the built-in
    listener."""
    port_file = os.path.join(tmp, "port-slow")
    sim = subprocess.Popen([os.path.join(RELEASE, "callconnect-sim"), "--port", "0", "--step-ms", "3000",
                            "--port-file", port_file, "--stdin-eof"], stdin=subprocess.PIPE,
                           stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if os.path.exists(port_file):
                break
            time.sleep(0.05)
        port = open(port_file).read().strip()
        dsn = (f"poketalk://demo-key@127.0.0.1:{port}?tls=0&default_country=49"
               f"&event_secret=bench-secret-0123456789&event_listen=127.0.0.1:0")
        return [run_json([lib_exe, "pollev", dsn, "500000"]) for _ in range(3)]
    finally:
        sim.stdin.close()
        sim.wait(timeout=10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=2000, help="requests per round and client")
    args = ap.parse_args()

    sh(["cargo", "build", "--release", "--workspace", "--quiet"], cwd=ROOT)
    soname = os.path.join(RELEASE, "libcallconnect.so.0")
    if not os.path.lexists(soname):
        os.symlink("libcallconnect.so", soname)
    tmp = tempfile.mkdtemp(prefix="cc-bench-")
    lib_exe, curl_exe = os.path.join(tmp, "bench_lib"), os.path.join(tmp, "bench_curl")
    sh(["cc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-I" + os.path.join(ROOT, "include"),
        os.path.join(ROOT, "bench", "bench_lib.c"), "-o", lib_exe, "-L" + RELEASE, "-lcallconnect", "-lpthread",
        "-Wl,-rpath," + RELEASE])
    sh(["cc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", os.path.join(ROOT, "bench", "bench_curl.c"),
        "-o", curl_exe, "-lcurl"])

    port_file = os.path.join(tmp, "port")
    sim = subprocess.Popen([os.path.join(RELEASE, "callconnect-sim"), "--port", "0", "--step-ms", "0",
                            "--port-file", port_file, "--stdin-eof"], stdin=subprocess.PIPE,
                           stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if os.path.exists(port_file):
                break
            time.sleep(0.05)
        port = open(port_file).read().strip()
        base = f"http://127.0.0.1:{port}"
        urllib.request.urlopen(f"{base}/_sim/42call/balance?user={USER}&amount=10000000").read()
        dsn = f"42call://{USER}:{PASSWORD}@127.0.0.1:{port}?tls=0&default_country=49"
        url = f"{base}/api/rest/v2/?webcallback"
        started = json.loads(sh([lib_exe, "start", dsn]))
        call_id, ref = started["id"], started["ref"]

        def run_json(cmd):
            return json.loads(sh(cmd).strip().splitlines()[-1])

        rounds = []
        n_py = max(200, args.n // 4)
        for r in range(args.rounds):
            x_date, x_auth = sign(USER, PASSWORD)
            lib = run_json([lib_exe, "keepalive", dsn, ref, str(args.n)])
            curl = run_json([curl_exe, "keepalive", url, x_date, x_auth, call_id, str(args.n)])
            py = run_json([sys.executable, os.path.join(ROOT, "bench", "bench_requests.py"), "keepalive", url,
                           x_date, x_auth, call_id, str(n_py)])
            lib_place = run_json([lib_exe, "place", dsn, str(args.n // 2)])
            curl_place = run_json([curl_exe, "place", url, x_date, x_auth, str(args.n // 2)])
            rounds.append({"lib": lib, "curl": curl, "py": py, "lib_place": lib_place, "curl_place": curl_place})
            print(f"round {r + 1}: lib {lib['us_per_request']} us, curl {curl['us_per_request']} us, "
                  f"requests {py['us_per_request']} us; place: lib {lib_place['us_per_request']} us, "
                  f"curl {curl_place['us_per_request']} us", file=sys.stderr, flush=True)

        # Instructions per request (callgrind): the same for the same binaries whatever
        # else the machine is doing. The warm-up requests (50) are counted too.
        insn = None
        if shutil_which("valgrind"):
            n_cg = 300
            x_date, x_auth = sign(USER, PASSWORD)
            lib_i = callgrind([lib_exe, "keepalive", dsn, ref, str(n_cg)],
                              ["cc_call_attach", "cc_hangup", "cc_call_free"], tmp) / (n_cg + 50)
            curl_i = callgrind([curl_exe, "keepalive", url, x_date, x_auth, call_id, str(n_cg)],
                               ["curl_easy_perform"], tmp) / (n_cg + 50)
            insn = (lib_i, curl_i)
        threads = {t: run_json([lib_exe, "threads", dsn, ref, str(t), "3"]) for t in (1, 2, 4, 8)}
        poll = [run_json([lib_exe, "poll", dsn, ref, "2000000"]) for _ in range(3)]
        pollev = poll_event_fed(lib_exe, tmp, run_json)
        listener_out, listener_raw = listener_rows(RELEASE, tmp)
        handles = run_json([lib_exe, "handles", dsn, ref, "10000"])
        stripped = os.path.join(tmp, "libcallconnect.so")
        sh(["strip", "--strip-all", "-o", stripped, os.path.join(RELEASE, "libcallconnect.so")])
        so_size = os.path.getsize(stripped)
    finally:
        sim.stdin.close()
        sim.wait(timeout=10)

    def med(key, field="us_per_request"):
        return statistics.median(r[key][field] for r in rounds)

    def ratio(a, b, field="us_per_request"):
        per_round = [r[a][field] / r[b][field] for r in rounds]
        return statistics.median(per_round), min(per_round), max(per_round)

    m = machine()
    out = []
    out.append(f"Machine: {m['nproc']} CPUs, {m['cpu']}, Linux {m['kernel']}; load average at the end "
               f"{' '.join(m['load'])}. {m['rustc']}; {m['cc']}; {m['libcurl']}; Python {m['python']}, "
               f"requests {m['requests']}.")
    out.append(f"Command: `make bench` (`python3 bench/run.py --rounds {args.rounds} --n {args.n}`), "
               f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}.")
    out.append("")
    out.append("| one keep-alive request (42call stopcallback) | wall µs/request (median) | client CPU µs/request (median) |")
    out.append("| --- | --- | --- |")
    for key, name in (("lib", "callconnect from C"), ("curl", "libcurl from C, by hand"), ("py", "Python requests")):
        out.append(f"| {name} | {med(key):.1f} | {med(key, 'cpu_us_per_request'):.1f} |")
    out.append("")
    w = ratio("lib", "curl")
    c = ratio("lib", "curl", "cpu_us_per_request")
    p = ratio("lib", "py")
    out.append(f"- callconnect / libcurl, wall time: **{w[0]:.3f}×** (rounds: {w[1]:.3f}–{w[2]:.3f})")
    out.append(f"- callconnect / libcurl, client CPU: **{c[0]:.3f}×** (rounds: {c[1]:.3f}–{c[2]:.3f})")
    out.append(f"- callconnect / Python requests, wall time: **{p[0]:.3f}×** (rounds: {p[1]:.3f}–{p[2]:.3f})")
    wp = ratio("lib_place", "curl_place")
    cp = ratio("lib_place", "curl_place", "cpu_us_per_request")
    out.append(f"- a placing request (trycallback, a new connection each, for both): callconnect "
               f"{med('lib_place'):.1f} µs, libcurl {med('curl_place'):.1f} µs: wall **{wp[0]:.3f}×** "
               f"({wp[1]:.3f}–{wp[2]:.3f}), client CPU **{cp[0]:.3f}×** ({cp[1]:.3f}–{cp[2]:.3f})")
    if insn:
        out.append(f"- user-space instructions per keep-alive request (callgrind, repeatable): callconnect "
                   f"{insn[0]:,.0f} (cc_call_attach + cc_hangup + cc_call_free: signing, JSON, HTTP), libcurl "
                   f"{insn[1]:,.0f} (curl_easy_perform, signature given): **{insn[0] / insn[1]:.3f}×**")
    out.append("")
    out.append("| threads | requests/s (library, one shared client) | failed |")
    out.append("| --- | --- | --- |")
    for t, r in threads.items():
        out.append(f"| {t} | {r['per_second']:.0f} | {r['failed']} |")
    out.append("")
    evs = sorted(x["ns_per_poll"] for x in pollev)
    out.append(f"- `cc_poll_status` of a live PokeTALK call fed by EventURL events (no network): "
               f"**{evs[1]:.0f} ns** (median of 3 runs of 500 000 in state {pollev[0]['state']}: "
               f"{', '.join(f'{x:.0f}' for x in evs)})")
    polls = sorted(x["ns_per_poll"] for x in poll)
    out.append(f"- `cc_poll_status` of a call that is already final (no network): "
               f"**{polls[1]:.0f} ns** (median of 3 runs of 2 000 000: {', '.join(f'{x:.0f}' for x in polls)})")
    out.append(f"- resident memory per live call handle at {handles['n']} handles: "
               f"**{handles['bytes_per_handle']:.0f} bytes** (RSS {handles['rss_before_kib']} KiB → "
               f"{handles['rss_after_kib']} KiB)")
    out.append(f"- stripped `libcallconnect.so` (release): **{so_size / 1024:.0f} KiB** ({so_size} bytes)")
    out.extend(listener_out)
    report = "\n".join(out)
    print(report)
    with open(os.path.join(ROOT, "target", "bench-report.md"), "w") as f:
        f.write(report + "\n")
    with open(os.path.join(ROOT, "target", "bench-raw.json"), "w") as f:
        json.dump({"rounds": rounds, "instructions": insn, "threads": threads, "poll": poll, "pollev": pollev, "handles": handles, "so_size": so_size,
                   "listener": listener_raw, "machine": m}, f, indent=1)


if __name__ == "__main__":
    main()
