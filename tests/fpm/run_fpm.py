#!/usr/bin/env python3
"""PHP-FPM as it runs in production, behind nginx, with the recipe of docs/host-php.md.

Starts, in a private temporary directory with their own pid and log files: the carrier
simulator, Debian's php-fpm (master as root, the `portal` pool as www-data: 4 workers,
recycled every 20 requests) with Debian's php.ini and conf.d plus the page's
30-callconnect.ini (ffi.preload, opcache.preload), and nginx on 127.0.0.1. The files the
page shows are the files used here (tests/fpm/: the ini, the preload script, the pool,
the nginx server block, the portal's config file, the EventURL receiver, the portal page);
only host names, paths and ports are replaced by this run's own (`subs` below).

The scenario: sessions (each its own PHP session cookie) place a PokeTALK call on the
portal page, which keeps the call's reference in the PHP session; later requests, served
by other workers and by recycled ones, attach, read the status (which only the EventURL
receiver's events move: the simulator calls cc-event.php through nginx) and hang up; the
receiver answers the next event 412 and the call ends. A few hundred requests in all.
Then the FPM log must show no crash, and the status page's latency is printed (a figure,
not an assertion).

Prints PASS/FAIL lines and `# fpm: N passed, M failed`; `SKIP reason` when php-fpm, nginx
or root is missing. Usage: run_fpm.py [--prefix PREFIX] (an installed prefix; default:
`make install` into the temporary directory).
"""
import glob
import grp
import http.cookiejar
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TARGET = os.path.join(ROOT, "target", "debug")
POOL_USER = "www-data"
SESSIONS = 10
STATUS_READS = 20  # per session once the call is up, before the hang-up
SECRET = "a-long-random-event-secret"

passed = failed = 0


def check(ok, name, detail=""):
    global passed, failed
    print(("PASS " if ok else "FAIL ") + name + ("" if ok or not detail else "\n" + str(detail)[-4000:]), flush=True)
    passed += bool(ok)
    failed += not ok
    return bool(ok)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def start_simulator(tmp):
    port_file = os.path.join(tmp, "sim.port")
    log = open(os.path.join(tmp, "sim.log"), "w")
    sim = subprocess.Popen([os.path.join(TARGET, "callconnect-sim"), "--port", "0", "--step-ms", "100",
                            "--port-file", port_file, "--stdin-eof"], stdin=subprocess.PIPE, stdout=log,
                           stderr=subprocess.STDOUT)
    if not wait_for(lambda: os.path.exists(port_file) and open(port_file).read().strip()):
        sim.kill()
        raise SystemExit("the simulator did not start")
    return sim, open(port_file).read().strip()


def pool_workers(master):
    """[(pid, user, title)] of the FPM master's children serving the pool (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                title = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            uid = os.stat(f"/proc/{entry}").st_uid
        except (OSError, ValueError, IndexError):
            continue
        if ppid == master and "pool portal" in title:
            found.append((int(entry), pwd.getpwuid(uid).pw_name, title))
    return found


def get(opener, url, timeout=30):
    t0 = time.perf_counter()
    try:
        with opener.open(url, timeout=timeout) as r:
            body, code = r.read().decode(), r.status
    except urllib.error.HTTPError as e:
        body, code = e.read().decode(errors="replace"), e.code
    elapsed = time.perf_counter() - t0
    try:
        data = json.loads(body)
    except ValueError:
        data = {"raw": body}
    return code, data, elapsed


def main():
    prefix = None
    if len(sys.argv) > 2 and sys.argv[1] == "--prefix":
        prefix = os.path.abspath(sys.argv[2])
    fpm = sorted(glob.glob("/usr/sbin/php-fpm*"))
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not fpm:
        print("SKIP php-fpm is not installed (apt-get install -y php-fpm)")
        return 0
    if not nginx:
        print("SKIP nginx is not installed (apt-get install -y nginx)")
        return 0
    if os.geteuid() != 0:
        print("SKIP the FPM master runs as root here, as Debian's service does: run as root")
        return 0
    try:
        pwd.getpwnam(POOL_USER)
    except KeyError:
        print(f"SKIP there is no user {POOL_USER}")
        return 0
    fpm = fpm[-1]

    tmp = tempfile.mkdtemp(prefix="cc-fpm-")
    os.chmod(tmp, 0o755)  # the pool user reads the library, the class and the pages below
    procs = []
    try:
        run_scenario(tmp, prefix, fpm, nginx, procs)
    finally:
        for name, proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGQUIT if name != "sim" else signal.SIGTERM)
                if name == "sim":
                    proc.stdin.close()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if os.environ.get("CC_KEEP_FPM_DIR"):
            print(f"# kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"# fpm: {passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 else 1


def run_scenario(tmp, prefix, fpm, nginx, procs):
    uid, gid = pwd.getpwnam(POOL_USER).pw_uid, grp.getgrnam(POOL_USER).gr_gid
    if prefix is None:
        prefix = os.path.join(tmp, "prefix")
        p = subprocess.run(["make", "-s", "install", f"PREFIX={prefix}"], cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=1800)
        if not check(p.returncode == 0, "make install into a temporary prefix", p.stdout):
            return
    sim, sim_port = start_simulator(tmp)
    procs.append(("sim", sim))
    http_port = free_port()

    # Where the page's paths go in this run.
    d = {name: os.path.join(tmp, name) for name in ("php-fpm", "etc-callconnect", "spool", "sessions", "www", "run",
                                                     "nginx", "pool.d")}
    for path in d.values():
        os.makedirs(path, mode=0o755, exist_ok=True)
    os.makedirs(os.path.join(d["php-fpm"], "conf.d"), mode=0o755)
    subs = [
        ("/etc/php/8.2/fpm", d["php-fpm"]),
        ("/usr/local", prefix),
        ("/etc/callconnect", d["etc-callconnect"]),
        ("/var/spool/callconnect", d["spool"]),
        ("/var/lib/php/sessions/portal", d["sessions"]),
        ("/var/www/portal", d["www"]),
        ("/run/php/portal.sock", os.path.join(d["run"], "portal.sock")),
        ("127.0.0.1:8080", f"127.0.0.1:{http_port}"),
        ("poketalk://API_KEY@www.poketalk.com?", f"poketalk://test-fpm@127.0.0.1:{sim_port}?tls=0&timeout_ms=5000&"),
        ("https%3A%2F%2Fportal.example.com", f"http%3A%2F%2F127.0.0.1%3A{http_port}"),
    ]

    def place(src, dst, mode=0o644, group=None):
        with open(os.path.join(HERE, src), encoding="utf-8") as f:
            text = f.read()
        for old, new in subs:
            text = text.replace(old, new)
        with open(dst, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(dst, mode)
        if group is not None:
            os.chown(dst, 0, group)

    place("30-callconnect.ini", os.path.join(d["php-fpm"], "conf.d", "30-callconnect.ini"))
    place("callconnect-preload.php", os.path.join(d["php-fpm"], "callconnect-preload.php"))
    place("portal.conf", os.path.join(d["pool.d"], "portal.conf"))
    place("portal-config.php", os.path.join(d["etc-callconnect"], "portal.php"), 0o640, gid)
    place("www/cc-event.php", os.path.join(d["www"], "cc-event.php"))
    place("www/portal.php", os.path.join(d["www"], "portal.php"))
    place("nginx-portal.conf", os.path.join(d["nginx"], "portal"))
    # As docs/host-php.md says: the spool and the sessions belong to the pool's user.
    for path in (d["spool"], d["sessions"]):
        os.chown(path, uid, gid)
        os.chmod(path, 0o700)

    # The FPM master's own file (Debian's php-fpm.conf would include pool.d/*.conf).
    fpm_log = os.path.join(tmp, "php-fpm.log")
    with open(os.path.join(tmp, "php-fpm.conf"), "w") as f:
        f.write(f"[global]\npid = {tmp}/php-fpm.pid\nerror_log = {fpm_log}\nlog_level = notice\n"
                f"daemonize = no\ninclude = {d['pool.d']}/*.conf\n")
    # Debian's php.ini and conf.d, plus the page's ini in a directory of this run.
    ini_dir = subprocess.run([fpm, "-i"], stdout=subprocess.PIPE, text=True).stdout
    m = re.search(r"^Scan this dir for additional \.ini files => (.+)$", ini_dir, re.M)
    scan = (m.group(1).strip() if m else "") + ":" + os.path.join(d["php-fpm"], "conf.d")
    fenv = dict(os.environ, PHP_INI_SCAN_DIR=scan)
    for k in ("CALLCONNECT_LIB", "CALLCONNECT_HEADER", "LD_LIBRARY_PATH", "CALLCONNECT_LOG"):
        fenv.pop(k, None)
    fpm_proc = subprocess.Popen([fpm, "--fpm-config", os.path.join(tmp, "php-fpm.conf"), "--nodaemonize"], env=fenv,
                                stdout=open(os.path.join(tmp, "php-fpm.out"), "w"), stderr=subprocess.STDOUT)
    procs.append(("php-fpm", fpm_proc))
    sock = os.path.join(d["run"], "portal.sock")
    started = wait_for(lambda: os.path.exists(sock) or fpm_proc.poll() is not None)
    fpm_text = lambda: open(fpm_log, errors="replace").read() if os.path.exists(fpm_log) else ""  # noqa: E731
    out_text = lambda: open(os.path.join(tmp, "php-fpm.out"), errors="replace").read()  # noqa: E731
    if not check(started and fpm_proc.poll() is None, f"{os.path.basename(fpm)} starts (master root, pool {POOL_USER})",
                 fpm_text() + out_text()):
        return
    # pm = static: the master forks the four right after it listens, each then names itself.
    wait_for(lambda: len(pool_workers(fpm_proc.pid)) >= 4, 20)
    workers = pool_workers(fpm_proc.pid)
    check(len(workers) == 4 and all(user == POOL_USER for _, user, _ in workers),
          f"4 workers of the pool, each as {POOL_USER}", workers)

    # nginx, its master as root, its workers as www-data (Debian's nginx.conf).
    shutil.copy("/etc/nginx/fastcgi_params", os.path.join(d["nginx"], "fastcgi_params"))
    temp_paths = "".join(f"{k}_temp_path {tmp}/nginx/{k};\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                        "scgi"))
    with open(os.path.join(d["nginx"], "nginx.conf"), "w") as f:
        f.write(f"user {POOL_USER};\nworker_processes 2;\npid {tmp}/nginx.pid;\nerror_log {tmp}/nginx-error.log;\n"
                f"daemon off;\nevents {{ worker_connections 256; }}\n"
                f"http {{\nlog_format timed '$request_time $status $request';\n"
                f"access_log {tmp}/nginx-access.log timed;\n{temp_paths}include {d['nginx']}/portal;\n}}\n")
    ngx = subprocess.Popen([nginx, "-p", d["nginx"], "-c", os.path.join(d["nginx"], "nginx.conf"), "-e",
                            os.path.join(tmp, "nginx-error.log")], stdout=open(os.path.join(tmp, "nginx.out"), "w"),
                           stderr=subprocess.STDOUT)
    procs.append(("nginx", ngx))
    if not check(wait_for(lambda: listening(http_port) or ngx.poll() is not None) and ngx.poll() is None,
                 f"nginx listens on 127.0.0.1:{http_port}",
                 open(os.path.join(tmp, "nginx.out")).read() + open(os.path.join(tmp, "nginx-error.log")).read()):
        return

    base = f"http://127.0.0.1:{http_port}"
    sim_base = f"http://127.0.0.1:{sim_port}"
    plain = urllib.request.build_opener()

    # The receiver refuses what is not an event (400), and a forged token (403): never 500.
    code, data, _ = get(plain, base + "/cc-event.php")
    check(code == 400, "cc-event.php without an event answers 400", (code, data))
    code, data, _ = get(plain, base + "/cc-event.php?webcallid=x&status=1&duration=0&debit=0&cc=forged")
    check(code in (400, 403, 404), f"cc-event.php with a forged event answers {code}", (code, data))

    lock = threading.Lock()
    latencies = []
    outcomes = []
    late = []

    def session(n):
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        rec = {"n": n, "pids": set(), "errors": [], "states": [], "loaded": set(), "requests": 0}

        def page(query):
            code, data, elapsed = get(opener, f"{base}/portal.php?{query}")
            rec["requests"] += 1
            if "pid" in data:
                rec["pids"].add(data["pid"])
            if "loaded" in data:
                rec["loaded"].add(data["loaded"])
            if code != 200:
                rec["errors"].append((query, code, data))
            elif data.get("state") and (not rec["states"] or rec["states"][-1] != data["state"]):
                rec["states"].append(data["state"])
            return code, data, elapsed

        def status():
            code, data, elapsed = page("action=status")
            if code == 200:
                with lock:
                    latencies.append(elapsed)
            return data.get("state")

        # B ends in 999: the simulated call talks until it is hung up.
        b = f"+49301234{n:03d}999"
        code, data, _ = page("action=place&" + urllib.parse.urlencode({"a": "+4917112345" + f"{n:02d}", "b": b}))
        rec["id"] = data.get("id")
        if code != 200:
            outcomes.append(rec)
            return
        # Until the receiver's events show the call up (a state that lasts: it talks until hung up).
        deadline = time.time() + 30
        while status() != "CONNECTED" and time.time() < deadline and not rec["errors"]:
            time.sleep(0.02)
        for _ in range(STATUS_READS):
            status()
        code, data, _ = page("action=hangup")
        rec["hangup"] = (code, data.get("state"), data.get("flags"))
        deadline = time.time() + 30
        while status() not in ("ENDED", "FAILED") and time.time() < deadline and not rec["errors"]:
            time.sleep(0.05)
        with lock:
            outcomes.append(rec)

    # Two sessions at a time: the pool's four workers also serve the carrier's events, which
    # must not wait behind portal requests (the carrier gives an event a few seconds).
    todo = list(range(SESSIONS))

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                n = todo.pop(0)
            session(n)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    wall = time.time() - t0
    outcomes.sort(key=lambda r: r["n"])
    total = sum(r["requests"] for r in outcomes)

    for r in outcomes:
        n = r["n"]
        check(not r["errors"], f"session {n}: every portal request answered 200", r["errors"][:3])
        check(r["states"][-1:] == ["ENDED"] and "CONNECTED" in r["states"],
              f"session {n}: the portal followed the call by the receiver's events: {' '.join(r['states'])}")
        check(r.get("hangup", (0,))[0] == 200, f"session {n}: hung up from the session's reference", r.get("hangup"))
        check(len(r["pids"]) >= 2, f"session {n}: {r['requests']} requests served by {len(r['pids'])} workers")
        check(r["loaded"] == {"scope CALLCONNECT"}, f"session {n}: the class found the preloaded header", r["loaded"])
        if r.get("id"):
            with urllib.request.urlopen(f"{sim_base}/_sim/poketalk/call?custom={r['id']}", timeout=10) as resp:
                call = json.loads(resp.read())
            answers = [str(e.get("http")) for e in call.get("events", [])]
            # "error": no answer within the carrier's few seconds (an overloaded machine); any
            # answer given must be 200, or the one 412 that ends the hung-up call.
            given = [a for a in answers if a != "error"]
            check(given and set(given) <= {"200", "412"} and given.count("412") == 1 and call.get("hung_up_by_412"),
                  f"session {n}: nginx + FPM answered the carrier's events: {' '.join(answers)}", call)
            with lock:
                late.append(len(answers) - len(given))

    events = len(re.findall(r"GET /cc-event\.php", open(os.path.join(tmp, "nginx-access.log")).read()))
    all_pids = set().union(*(r["pids"] for r in outcomes)) if outcomes else set()
    check(total + events >= 200, f"{total} portal requests and {events} events in {wall:.1f} s")
    check(len(all_pids) > 4, f"workers recycled (pm.max_requests): {len(all_pids)} worker pids served the portal")

    # FPM health over the run: recycling is the only way a child may have gone.
    def crash_lines(text):
        return [line for line in text.splitlines()
                if re.search(r"exited on signal|SIGSEGV|SIGBUS|SIGABRT|core dumped|PHP Fatal|PHP Warning", line)
                or re.search(r"child \d+ exited with code [1-9]", line)]

    log = fpm_text()
    crashes = crash_lines(log)
    check(not crashes, "the FPM log shows no crash, no fatal error, no warning", "\n".join(crashes[:20]))
    # The check above reads FPM's own words: a worker killed by SIGSEGV now must show in them.
    victims = [pid for pid, _, _ in pool_workers(fpm_proc.pid)]
    if check(bool(victims), "a live worker to kill"):
        os.kill(victims[0], signal.SIGSEGV)
        wait_for(lambda: any(str(victims[0]) in line for line in crash_lines(fpm_text())), 10)
        seen = [line for line in crash_lines(fpm_text()) if str(victims[0]) in line]
        check(len(seen) >= 1, f"a worker killed by SIGSEGV shows in the log as a crash: {seen[:1]}",
              fpm_text()[-2000:])
    fpm_proc.send_signal(signal.SIGQUIT)
    try:
        fpm_proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    exits = re.findall(r"child (\d+) exited (with code (\d+)|on signal \d+.*)", log)
    recycled = sum(1 for e in exits if e[2] == "0")
    check(recycled > 0, f"the FPM log shows {recycled} children recycled, each with code 0", log[-3000:])
    nginx_err = open(os.path.join(tmp, "nginx-error.log"), errors="replace").read()
    # The two refusals asked for above are logged by the receiver (error_log, no secret).
    asked = re.compile(r'event refused \(400\).*request: "GET /cc-event\.php(\?webcallid=x\S*cc=forged)? ')
    upstream = [line for line in nginx_err.splitlines()
                if ("[error]" in line or "[crit]" in line) and not asked.search(line)]
    check(not upstream, "the nginx error log holds no error", "\n".join(upstream[:10]))

    if latencies:
        ms = sorted(x * 1000 for x in latencies)
        p99 = ms[min(len(ms) - 1, int(round(0.99 * len(ms))) - 1)]
        print(f"# fpm: status page over {len(ms)} requests: mean {sum(ms) / len(ms):.1f} ms, p99 {p99:.1f} ms, "
              f"max {ms[-1]:.1f} ms; {recycled} children recycled, {len(crashes)} crash lines; "
              f"{sum(late)} of {events} events not answered within the carrier's timeout", flush=True)


if __name__ == "__main__":
    sys.exit(main())
