#!/usr/bin/env python3
"""Load test: THREADS x CYCLES callback cycles on one shared client, per carrier, against
a simulator of its own in instant mode (step 0). Checks, against the simulator's own
counters: every call placed exactly once (none lost, none duplicated), no request
repeated, no error, every call final after its hang-up, no handle left, and resident
memory after the run equal to that after a warm-up (the first fifth of the cycles)
within RSS_MARGIN_KIB.

Prints PASS/FAIL lines and `# load: N passed, M failed`.

usage: tests/load/run_load.py [--threads 16] [--cycles 500] [--lib target/debug]
A carrier joins by one entry in CARRIERS.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RSS_MARGIN_KIB = 2048

# name: DSN (with {port}), simulator controls to call first (e.g. credit for the
# account: the simulator charges calls), the stats counters of calls placed and of
# requests, requests per cycle (None: not fixed, e.g. where polls go to the carrier).
CARRIERS = [
    ("42call", "42call://test-load:secret-test-load@127.0.0.1:{port}?tls=0&default_country=49&timeout_ms=10000",
     ["/_sim/42call/balance?user=test-load&amount=1000000"],
     ("42call", "calls_placed"), ("42call", "requests"), 2),
]


def stats(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_sim/stats", timeout=10) as r:
        return json.load(r)


def start_sim(target):
    port_file = tempfile.mktemp(prefix="cc-load-port-")
    sim = subprocess.Popen([os.path.join(target, "callconnect-sim"), "--port", "0", "--step-ms", "0",
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--cycles", type=int, default=500)
    ap.add_argument("--lib", default=os.path.join(ROOT, "target", "debug"))
    args = ap.parse_args()
    lib = os.path.abspath(args.lib)
    passed = failed = 0

    def check(ok, name, detail=""):
        nonlocal passed, failed
        print(("PASS " if ok else "FAIL ") + name + ("" if ok else f" ({detail})"), flush=True)
        passed += ok
        failed += not ok

    with tempfile.TemporaryDirectory(prefix="cc-load-") as tmp:
        exe = os.path.join(tmp, "load")
        subprocess.run(["cc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror",
                        "-I" + os.path.join(ROOT, "include"), os.path.join(ROOT, "tests", "load", "load.c"),
                        "-o", exe, "-L" + lib, "-lcallconnect", "-lpthread", "-Wl,-rpath," + lib], check=True)
        sim, port = start_sim(os.path.join(ROOT, "target", "debug"))
        try:
            for name, dsn, setup, placed_key, requests_key, per_cycle in CARRIERS:
                for path in setup:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10).read()
                before = stats(port)
                p = subprocess.run([exe, dsn.format(port=port), str(args.threads), str(args.cycles)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=1800,
                                   env=dict(os.environ, LD_LIBRARY_PATH=lib))
                if p.returncode != 0:
                    check(False, f"{name}: load ran", p.stderr[-2000:])
                    continue
                r = json.loads(p.stdout.strip().splitlines()[-1])
                after = stats(port)
                placed = after[placed_key[0]][placed_key[1]] - before[placed_key[0]][placed_key[1]]
                requests = after[requests_key[0]][requests_key[1]] - before[requests_key[0]][requests_key[1]]
                calls = args.threads * args.cycles
                tag = f"{name} {args.threads}x{args.cycles}"
                print(f"# {tag}: {r['seconds']:.1f} s, {calls / r['seconds']:.0f} cycles/s, "
                      f"RSS {r['rss_warm_kib']} KiB after warm-up, {r['rss_end_kib']} KiB at the end", flush=True)
                check(r["errors"] == 0, f"{tag}: no error", f"{r['errors']} errors, first: {r['first_error']}")
                check(placed == calls, f"{tag}: every call placed exactly once (simulator: {placed})",
                      f"{placed} placed for {calls} starts")
                if per_cycle is not None:
                    check(requests == per_cycle * calls, f"{tag}: no request lost or repeated ({requests})",
                          f"{requests} requests, expected {per_cycle * calls}")
                check(r["missing_ids"] == 0 and r["duplicate_ids"] == 0, f"{tag}: every call has its own id",
                      f"{r['missing_ids']} missing, {r['duplicate_ids']} duplicated")
                check(r["not_final"] == 0, f"{tag}: every call final after its hang-up", r["not_final"])
                check(r["live_handles"] == 0, f"{tag}: no handle left", r["live_handles"])
                grown = r["rss_end_kib"] - r["rss_warm_kib"]
                check(grown <= RSS_MARGIN_KIB, f"{tag}: memory stable (grew {grown} KiB after the warm-up)",
                      f"grew {grown} KiB, margin {RSS_MARGIN_KIB} KiB")
        finally:
            sim.stdin.close()
            sim.wait(timeout=10)
    print(f"# load: {passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
