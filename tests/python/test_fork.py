"""A Python server that makes its client before forking workers (gunicorn with
`preload_app`, multiprocessing with `fork`): in a worker, the parent's client and calls are
refused with InvalidHandleError saying why, and nothing reaches the carrier; the worker
makes its own client and takes a call over by its reference; closing what it inherited
leaves the parent's event listener and port alone. A fork while another thread is inside
the logging callback leaves the worker free to change it (the wrapper does at exit)."""
import logging
import os
import signal
import socket
import sys
import threading
import time
import unittest

from ccffi import sim_dsn, sim_get, sim_stats

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "bindings", "python"))
import callconnect as cc  # noqa: E402

SECRET = "event-secret-for-python-fork-01"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def follow(call, until):
    for _ in range(3000):
        st = call.status()
        if st.state >= until:
            return st
        time.sleep(0.01)
    return st


def in_child(work):
    """Runs `work` in a forked child; returns what it wrote (its verdict) and its status.
    A child that hangs is ended by SIGALRM after 20 s, without a verdict."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        signal.alarm(20)
        try:
            verdict = work()
        except BaseException as e:  # noqa: BLE001 - a child must always report and end
            verdict = f"child raised {type(e).__name__}: {e}"
        os.write(w, verdict.encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read().decode()
    _, status = os.waitpid(pid, 0)
    return out, status


class ForkedWorker(unittest.TestCase):
    def setUp(self):
        sim_get("/_sim/poketalk/settings?event_period_ms=0&reply=text&reply_delay_ms=0")

    def test_a_worker_is_refused_the_parents_client_and_makes_its_own(self):
        port = free_port()
        dsn = sim_dsn("poketalk", "test-py", extra=f"event_secret={SECRET}&event_listen=127.0.0.1:{port}")
        client = cc.Client(dsn)
        call = client.start_call("0171 1234567", "030 1234999")
        self.assertEqual(follow(call, cc.State.CONNECTED).state, cc.State.CONNECTED)
        ref = call.ref()

        def worker():
            before = sim_stats()["_requests"]["total"]
            for what, attempt in [("start_call", lambda: client.start_call("0171 1234567", "030 1234567")),
                                  ("status", call.status), ("hangup", call.hangup)]:
                try:
                    attempt()
                    return f"{what}: the parent's handle was accepted"
                except cc.InvalidHandleError as e:
                    if "fork()" not in str(e):
                        return f"{what}: {e}"
            if sim_stats()["_requests"]["total"] != before:
                return "a request reached the carrier"
            own = cc.Client(sim_dsn("poketalk", "test-py",
                                    extra=f"event_secret={SECRET}&event_listen=127.0.0.1:0"))
            taken = own.attach(ref)
            taken.status()
            taken.close()
            own.close()
            call.close()
            client.close()
            return "ok"

        verdict, status = in_child(worker)
        self.assertEqual(verdict, "ok")
        self.assertTrue(os.WIFEXITED(status))
        # The parent goes on: its listener answers the next event 412 after the hang-up.
        call.hangup()
        st = follow(call, cc.State.ENDED)
        self.assertEqual((st.state, st.reason), (cc.State.ENDED, cc.Reason.CANCELLED))
        call.close()
        client.close()
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen(1)

    def test_a_worker_alive_does_not_hold_the_parents_port(self):
        port = free_port()
        dsn = sim_dsn("poketalk", "test-py", extra=f"event_secret={SECRET}&event_listen=127.0.0.1:{port}")
        client = cc.Client(dsn)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(w)
            os.read(r, 1)  # alive, with what it inherited, until the parent is done
            os._exit(0)
        os.close(r)
        try:
            client.close()
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", port))
                s.listen(1)
        finally:
            os.write(w, b"x")
            os.close(w)
            os.waitpid(pid, 0)

    def test_a_worker_forked_while_a_thread_logs_can_change_the_logging(self):
        # A thread's log line waits in the handler (as one waits for the GIL the forking
        # thread holds) when the process forks: the worker, which does not have that
        # thread, can still stop the library's logging (the wrapper does at exit).
        inside, release = threading.Event(), threading.Event()

        class Held(logging.Handler):
            def emit(self, record):
                if not inside.is_set():
                    inside.set()
                    release.wait(30)

        logger = logging.getLogger("callconnect.test_fork")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        logger.addHandler(Held())
        cc.enable_logging(logging.INFO, logger)
        client = cc.Client(sim_dsn("42call", "test-py:secret-test-py"))
        try:
            placing = threading.Thread(target=lambda: client.start_call("0171 1234567", "030 1234567").close())
            placing.start()
            self.assertTrue(inside.wait(30), "no log line came")

            def worker():
                cc.disable_logging()
                return "ok"

            verdict, status = in_child(worker)
            release.set()
            placing.join(30)
            self.assertEqual(verdict, "ok")
            self.assertTrue(os.WIFEXITED(status))
        finally:
            release.set()
            cc.disable_logging()
            client.close()


if __name__ == "__main__":
    unittest.main()
