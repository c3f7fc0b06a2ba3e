"""The built-in event listener's rows of `make bench` (bench/run.py calls `listener_rows`).

A host process (bench_events.c, `host`: a client with `event_listen` and one live
PokeTALK call, hung up so that every genuine event is answered 412) runs against a slow
simulator whose own events go to a port nobody listens on. Measured from outside, on
loopback, one request per connection as a carrier sends them:
- events answered per second, with 1 and 4 sending threads;
- the latency of a genuine event while 500 idle half-open connections are held open
  (the default cap is 64: the listener lets the oldest idle ones go to make room).
"""
import json
import os
import re
import socket
import subprocess
import urllib.request

import simulator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET = "bench-secret-0123456789"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _json_line(cmd):
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def listener_rows(release, tmp):
    """Builds bench_events, measures, returns (markdown lines, raw results)."""
    exe = os.path.join(tmp, "bench_events")
    subprocess.run(["cc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-I" + os.path.join(ROOT, "include"),
                    os.path.join(ROOT, "bench", "bench_events.c"), "-o", exe, "-L" + release, "-lcallconnect",
                    "-lpthread", "-Wl,-rpath," + release], check=True)
    sim, sim_port = simulator.start(release, os.path.join(tmp, "port-listener"), 3000)
    host = None
    try:
        listen, nobody = _free_port(), _free_port()
        dsn = (f"poketalk://demo-key@127.0.0.1:{sim_port}?tls=0&default_country=49"
               f"&event_secret={SECRET}&event_listen=127.0.0.1:{listen}"
               f"&event_url=http%3A%2F%2F127.0.0.1%3A{nobody}%2Fev")
        host = subprocess.Popen([exe, "host", dsn], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = host.stdout.readline()
        m = re.match(r"READY (\S+)", line)
        if not m:
            raise RuntimeError(f"bench_events host did not start: {line!r}")
        call_id = m.group(1)
        record = json.loads(urllib.request.urlopen(
            f"http://127.0.0.1:{sim_port}/_sim/poketalk/call?custom={call_id}").read())
        query = record["eventurl"].split("?", 1)[1]
        for k, v in (("$webcallid", call_id), ("$status", "1"), ("$duration", "0"), ("$debit", "0")):
            query = query.replace(k, v)
        target = "/ev?" + query
        rate = {t: _json_line([exe, "rate", str(listen), target, str(t), "3"]) for t in (1, 4)}
        idle = _json_line([exe, "latency", str(listen), target, "200", "500"])
        quiet = _json_line([exe, "latency", str(listen), target, "200", "0"])
    finally:
        if host:
            host.stdin.close()
            host.wait(timeout=20)
        simulator.stop(sim)
    out = ["", "| built-in event listener (one event per connection, loopback) | figure |", "| --- | --- |"]
    for t, r in rate.items():
        out.append(f"| events answered per second, {t} sending thread{'s' if t > 1 else ''} | "
                   f"**{r['per_second']:.0f}** ({r['answered']} answered 412, {r['failed']} not) |")
    out.append(f"| a genuine event, listener otherwise idle: latency median / p99 / max | "
               f"{quiet['median_us']:.0f} / {quiet['p99_us']:.0f} / {quiet['max_us']:.0f} µs "
               f"({quiet['n']} events, {quiet['failed']} not answered 412) |")
    out.append(f"| a genuine event after {idle['idle']} idle half-open connections were opened and are held by the "
               f"client (the listener keeps at most 64 of them): latency median / p99 / max | "
               f"**{idle['median_us']:.0f}** / {idle['p99_us']:.0f} / {idle['max_us']:.0f} µs "
               f"({idle['n']} events, {idle['failed']} not answered 412) |")
    return out, {"rate": rate, "idle": idle, "quiet": quiet}


if __name__ == "__main__":
    # `python3 bench/listener.py [TARGET_DIR]`: these rows alone (default target/release,
    # built with `cargo build --release --workspace`).
    import sys
    import tempfile
    release = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release"))
    so = os.path.join(release, "libcallconnect.so.0")
    if not os.path.lexists(so):
        os.symlink("libcallconnect.so", so)
    lines, _ = listener_rows(release, tempfile.mkdtemp(prefix="cc-bench-listener-"))
    print("\n".join(lines))
