#!/usr/bin/env python3
"""Mutation testing of the high-stakes code: `make mutants` (slow; not part of `make test`).

For each file of tools/mutants-files.txt, cargo-mutants breaks the code in every way it
knows (a function returning a default, a comparison turned around, a condition negated...)
and runs the Rust tests named for that file; a mutant that no test notices is "missed".
Writes a summary (per file: caught, missed, timeouts, unviable, kill rate of the viable
ones, and every survivor) to target/mutants/summary.md and prints it.

Usage: tools/mutants.py [--only SUBSTRING] [--jobs N]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "target", "mutants")


def files():
    rows = []
    with open(os.path.join(ROOT, "tools", "mutants-files.txt")) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            path, _, tests = line.partition(" ")
            rows.append((path, tests.split()))
    return rows


def run_one(path, tests, jobs):
    out_dir = os.path.join(OUT, path.replace("/", "_"))
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir, exist_ok=True)
    cmd = ["cargo", "mutants", "--file", path, "--package", "callconnect", "--jobs", str(jobs),
           "--output", out_dir, "--no-shuffle", "--"]
    for t in tests:
        cmd += ["--lib"] if t == "lib" else ["--test", t]
    t0 = time.time()
    subprocess.run(cmd, cwd=ROOT)
    secs = time.time() - t0
    outcomes = os.path.join(out_dir, "mutants.out", "outcomes.json")
    counts = {"caught": 0, "missed": 0, "timeout": 0, "unviable": 0}
    missed = []
    if not os.path.exists(outcomes):
        return counts, ["(cargo-mutants wrote no outcomes: see its output above)"], secs
    data = json.load(open(outcomes))
    for o in data.get("outcomes", []):
        scen = o.get("scenario")
        if not isinstance(scen, dict):
            continue  # the baseline
        summary = o.get("summary", "")
        key = {"CaughtMutant": "caught", "MissedMutant": "missed", "Timeout": "timeout",
               "Unviable": "unviable"}.get(summary)
        if key:
            counts[key] += 1
        if key == "missed":
            m = scen.get("Mutant", {})
            span = m.get("span", {}).get("start", {})
            missed.append(f"{m.get('file', path)}:{span.get('line', '?')}: "
                          f"replace {m.get('function', {}).get('function_name', '?')} "
                          f"{m.get('genre', '')} with {m.get('replacement', '?')}")
    return counts, missed, secs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="")
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args()
    if shutil.which("cargo-mutants") is None:
        sys.exit("cargo-mutants is not installed: cargo install --locked cargo-mutants")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    lines = [f"Mutation testing at {commit}, {time.strftime('%Y-%m-%d')}", "",
             "| file | caught | missed | timeout | unviable | viable caught |",
             "| --- | --- | --- | --- | --- | --- |"]
    survivors = []
    for path, tests in files():
        if args.only not in path:
            continue
        counts, missed, secs = run_one(path, tests, args.jobs)
        viable = counts["caught"] + counts["missed"]
        rate = f"{100 * counts['caught'] // viable} %" if viable else "-"
        lines.append(f"| `{path}` | {counts['caught']} | {counts['missed']} | {counts['timeout']} "
                     f"| {counts['unviable']} | {rate} |")
        survivors += [f"- {m}" for m in missed]
        print(f"{path}: {counts} in {secs:.0f} s", flush=True)
    lines += ["", "Survivors:" if survivors else "No survivors."] + survivors
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
