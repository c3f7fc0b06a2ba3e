#!/usr/bin/env python3
"""Mutation testing of the high-stakes code: `make mutants` (slow; not part of `make test`).

For each file of tools/mutants-files.txt, cargo-mutants breaks the code in every way it
knows (a function returning a default, a comparison turned around, a condition negated...)
and runs the Rust tests named for that file; a mutant that no test notices is "missed".
Writes a summary (per file: caught, missed, timeouts, unviable, kill rate of the viable
ones, and every survivor) to target/mutants/summary.md and prints it.

Usage: tools/mutants.py [--only SUBSTRING] [--jobs N] [--no-run]
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
            path, _, rest = line.partition(" ")
            tests = [w for w in rest.split() if "=" not in w]
            # `exclude=REGEX`: mutants whose name matches are left out (cargo-mutants
            # --exclude-re); `only=REGEX`: just those whose name matches (--re), a large
            # file's start, hang-up and status paths. Each says why in the file.
            flags = {"exclude": "--exclude-re", "only": "--re"}
            narrow = [[flags[k], v] for k, _, v in (w.partition("=") for w in rest.split())
                        if k in flags]
            rows.append((path, tests, narrow))
    return rows


def run_one(path, tests, narrow, jobs, run=True):
    out_dir = os.path.join(OUT, path.replace("/", "_"))
    if not run:
        return read_outcomes(out_dir, 0)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir, exist_ok=True)
    cmd = ["cargo", "mutants", "--file", path, "--package", "callconnect", "--jobs", str(jobs),
           "--output", out_dir, "--no-shuffle"]
    for flag, regex in narrow:
        cmd += [flag, regex]
    # As cargo arguments (not test arguments after `--`), so that the build of each mutant
    # compiles only these test targets, not every test binary of the crate.
    for t in tests:
        cmd += ["--cargo-arg=--lib"] if t == "lib" else [f"--cargo-arg=--test={t}"]
    # One target directory kept across runs: the dependencies build once, not per run.
    # (MUTANTS_BUILD_DIR: another one, for a second run beside this one.)
    build_dir = os.environ.get("MUTANTS_BUILD_DIR", os.path.join(ROOT, "target", "mutants-build"))
    env = dict(os.environ, CARGO_TARGET_DIR=build_dir)
    # Each mutant is a build and a link of the test binaries: without debug information and
    # with lld (when installed) a mutant takes about half the time. Same code, same tests.
    env["CARGO_PROFILE_DEV_DEBUG"] = "0"
    env["CARGO_PROFILE_TEST_DEBUG"] = "0"
    if shutil.which("ld.lld"):
        env["RUSTFLAGS"] = (env.get("RUSTFLAGS", "") + " -C link-arg=-fuse-ld=lld").strip()
    t0 = time.time()
    subprocess.run(["nice"] + cmd, cwd=ROOT, env=env)
    return read_outcomes(out_dir, time.time() - t0)


def read_outcomes(out_dir, secs):
    """Counts what cargo-mutants wrote in OUT_DIR/mutants.out/outcomes.json. After a run
    with `--iterate` (which tests only what an earlier run did not catch), the earlier
    run's outcomes (`mutants.out.old`) count for the mutants it skipped."""
    outcomes = os.path.join(out_dir, "mutants.out", "outcomes.json")
    counts = {"caught": 0, "missed": 0, "timeout": 0, "unviable": 0}
    if not os.path.exists(outcomes):
        return counts, ["(cargo-mutants wrote no outcomes: see its output above)"], secs
    # The mutants an --iterate run skipped, by name (absent after a plain run).
    skipped_file = os.path.join(out_dir, "mutants.out", "previously_caught.txt")
    skipped = set(open(skipped_file).read().splitlines()) if os.path.exists(skipped_file) else set()
    latest = {}
    for f, only in [(os.path.join(out_dir, "mutants.out.old", "outcomes.json"), skipped),
                    (outcomes, None)]:
        if not os.path.exists(f):
            continue
        for o in json.load(open(f)).get("outcomes", []):
            scen = o.get("scenario")
            if not isinstance(scen, dict):
                continue  # "Baseline": the unmutated tree
            name = scen.get("Mutant", {}).get("name", "?")
            key = {"CaughtMutant": "caught", "MissedMutant": "missed", "Timeout": "timeout",
                   "Unviable": "unviable"}.get(o.get("summary", ""))
            if key and (only is None or name in only):
                latest[name] = key
    missed = []
    for name, key in latest.items():
        counts[key] += 1
        if key == "missed":
            missed.append(name)
    return counts, missed, secs


def summary_row(path, result):
    counts = result["counts"]
    viable = counts["caught"] + counts["missed"]
    rate = f"{100 * counts['caught'] // viable} %" if viable else "-"
    return (f"| `{path}` | {counts['caught']} | {counts['missed']} | {counts['timeout']} "
            f"| {counts['unviable']} | {rate} | {result['commit']}, {result['date']} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--no-run", action="store_true",
                    help="only read the outcomes of the last run again (after an interrupted run)")
    args = ap.parse_args()
    if shutil.which("cargo-mutants") is None:
        sys.exit("cargo-mutants is not installed: cargo install --locked cargo-mutants")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    # cargo-mutants copies the work tree as it is: changes not committed are measured too.
    if subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                      capture_output=True, text=True).stdout.strip():
        commit += " with changes not committed"
    for path, tests, narrow in files():
        if args.only not in path:
            continue
        rfile = os.path.join(OUT, path.replace("/", "_"), "result.json")
        if args.no_run and (os.path.exists(rfile) or
                            not os.path.exists(os.path.dirname(rfile))):
            # A finished run keeps its result.json, with the commit it measured; only an
            # interrupted one (outcomes but no result) is read again.
            continue
        counts, missed, secs = run_one(path, tests, narrow, args.jobs, run=not args.no_run)
        result = {"counts": counts, "missed": missed, "seconds": round(secs), "tests": tests,
                  "narrow": narrow,
                  "commit": commit, "date": time.strftime("%Y-%m-%d")}
        with open(os.path.join(OUT, path.replace("/", "_"), "result.json"), "w") as f:
            json.dump(result, f, indent=1)
        print(f"{path}: {counts} in {secs:.0f} s", flush=True)
    # The summary holds the latest run of every listed file (a run of one file keeps the
    # others' figures, each with the commit and day it was measured at).
    lines = ["| file | caught | missed | timeout | unviable | viable caught | measured at |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    survivors = []
    for path, _, _ in files():
        rfile = os.path.join(OUT, path.replace("/", "_"), "result.json")
        if not os.path.exists(rfile):
            lines.append(f"| `{path}` | not run | | | | | |")
            continue
        result = json.load(open(rfile))
        lines.append(summary_row(path, result))
        survivors += [f"- {m}" for m in result["missed"]]
    lines += ["", "Survivors:" if survivors else "No survivors."] + survivors
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
