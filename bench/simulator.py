"""The carrier simulator as the benchmarks (bench/run.py, bench/listener.py) and
tools/hot_symbols.py run it: on a free port of 127.0.0.1, stopped when its stdin closes."""
import os
import subprocess
import time


def start(release, port_file, step_ms, tls_dir=None):
    """Starts target/release's simulator (one call stage every `step_ms` ms; with `tls_dir`,
    its HTTPS front and test CA written there) and returns it with its port, once it
    listens."""
    cmd = [os.path.join(release, "callconnect-sim"), "--port", "0", "--step-ms", str(step_ms),
           "--port-file", port_file]
    if tls_dir:
        cmd += ["--tls-dir", tls_dir]
    sim = subprocess.Popen(cmd + ["--stdin-eof"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if os.path.exists(port_file):
                break
            time.sleep(0.05)
        return sim, open(port_file).read().strip()
    except BaseException:
        stop(sim)
        raise


def stop(sim):
    sim.stdin.close()
    sim.wait(timeout=10)
