"""Python `requests` with a keep-alive Session making the same 42call requests as
bench_lib (driven by bench/run.py). Prints one JSON line.

usage: bench_requests.py keepalive URL XDATE XAUTH CALLID N"""
import json
import sys
import time

import requests


def main():
    _, mode, url, x_date, x_auth, call_id, n = sys.argv
    n = int(n)
    s = requests.Session()
    headers = {"x-date": x_date, "x-authorization": x_auth}
    body = {"act": "stopcallback", "callerId": call_id, "callId": call_id}
    for _ in range(50):
        s.post(url, data=body, headers=headers, timeout=15)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        r = s.post(url, data=body, headers=headers, timeout=15)
        if r.status_code != 200 or r.json().get("error") is not False:
            raise SystemExit(f"unexpected reply {r.status_code}: {r.text[:200]}")
    t1, c1 = time.perf_counter(), time.process_time()
    print(json.dumps({"mode": mode, "n": n, "us_per_request": round((t1 - t0) * 1e6 / n, 2),
                      "cpu_us_per_request": round((c1 - c0) * 1e6 / n, 2)}))


if __name__ == "__main__":
    main()
