#!/usr/bin/env python3
"""Writes tools/hot-symbols.txt: the library's functions a process runs for its first
client and calls, in the order it first runs them (`make hot-symbols`).

The linker lays these functions out first and together (build.rs passes the file to lld as
`--symbol-ordering-file`): a fresh process, or a worker forked from a warmed-up parent,
then faults in a few adjacent pages of code for its first `cc_client_new` and
`cc_start_call` instead of pages spread over the whole library (BENCHMARKS.md, cold start).
The order changes nothing else: a stale file (other symbol names after a version or
compiler change) only loses the layout, and the install suite of `make test` fails until
the file is made again.

How: callgrind (valgrind) runs bench/bench_lib against the simulator, as `make bench` does:
a fresh process's client and two placements (`cold`), then a call's attach, hang-up and
free (`keepalive`) and status polls (`poll`); every function of libcallconnect.so that runs
is listed once, by its symbol name, in the order it first ran.

The names are those of the library `make release` links (and `make install` installs): a
symbol's name carries a hash of its build's features, which differ in a workspace build
(`cargo build --workspace`), whose library is then linked in the default order.

Usage: tools/hot_symbols.py [--check]   (--check: print how many of the file's symbols the
built library has, and where they lie, without writing)
"""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import run as bench  # noqa: E402  (bench/run.py: the build, bench_lib and the funded account)
import simulator  # noqa: E402

OUT = os.path.join(ROOT, "tools", "hot-symbols.txt")


def functions_run(cmd, tmp, name):
    """The libcallconnect functions a command runs, in first-run order (callgrind's file
    names each function where it first appears)."""
    out = os.path.join(tmp, name + ".callgrind")
    subprocess.run(["valgrind", "--tool=callgrind", "--demangle=no", "--compress-strings=no",
                    "--compress-pos=no", "--callgrind-out-file=" + out] + cmd,
                   check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    names, obj = [], ""
    with open(out) as f:
        for line in f:
            if line.startswith("ob="):
                obj = line[3:].strip()
            elif line.startswith("fn=") and "libcallconnect" in obj:
                fn = line[3:].strip()
                if not fn.startswith("0x"):  # PLT stubs and other unnamed code
                    names.append(fn)
    return names


def layout(symbols, library):
    """How many of `symbols` the library defines, their total size and the span of
    addresses they take (`nm`)."""
    sizes = {}
    for line in bench.sh(["nm", "-S", "--defined-only", library]).splitlines():
        parts = line.split()
        if len(parts) == 4:
            sizes[parts[3]] = (int(parts[0], 16), int(parts[1], 16))
    found = [sizes[s] for s in symbols if s in sizes]
    if not found:
        return 0, 0, 0
    total = sum(size for _, size in found)
    span = max(a + size for a, size in found) - min(a for a, _ in found)
    return len(found), total, span


def laid_out(library):
    """Whether the library has the functions of tools/hot-symbols.txt side by side (at least
    90 % of them, within 1.2 times their size), and what was found."""
    with open(OUT) as f:
        symbols = f.read().split()
    found, total, span = layout(symbols, library)
    ok = found >= 0.9 * len(symbols) and span <= 1.2 * total
    return ok, f"{found} of {len(symbols)} functions of tools/hot-symbols.txt, {total:,} bytes over {span:,}"


def main():
    library = os.path.join(bench.RELEASE, "libcallconnect.so")
    if sys.argv[1:] == ["--check"]:
        ok, found = laid_out(library)
        print(f"{library}: {found}{'' if ok else ' (not laid out together)'}")
        return
    bench.build()
    with tempfile.TemporaryDirectory(prefix="cc-hot-") as tmp:
        exe = os.path.join(tmp, "bench_lib")
        bench.build_bench_lib(exe)
        sim, port = simulator.start(bench.RELEASE, os.path.join(tmp, "port"), 0)
        try:
            dsn = bench.funded_dsn(port)
            ref = json.loads(bench.sh([exe, "start", dsn]).strip().splitlines()[-1])["ref"]
            order, seen = [], set()
            for name, cmd in [("cold", [exe, "cold", dsn]), ("keepalive", [exe, "keepalive", dsn, ref, "3"]),
                              ("poll", [exe, "poll", dsn, ref, "3"])]:
                for fn in functions_run(cmd, tmp, name):
                    if fn not in seen:
                        seen.add(fn)
                        order.append(fn)
        finally:
            simulator.stop(sim)
    with open(OUT, "w") as f:
        f.write("\n".join(order) + "\n")
    found, total, span = layout(order, library)
    print(f"wrote {OUT}: {len(order)} symbols ({found} defined in the library, {total:,} bytes)")


if __name__ == "__main__":
    main()
