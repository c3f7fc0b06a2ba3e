"""The Python module following a PokeTALK call through its EventURL events: a receiver
thread hands every hit to `Client.ingest_event` and answers the status it returns; the
call is read with `Call.status()`, ended by a 412 answer after `hangup()`, and forged or
unknown events raise the typed error carrying the status to answer."""
import decimal
import os
import sys
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, HTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))

import callconnect as cc  # noqa: E402
from ccffi import sim_answer, sim_dsn  # noqa: E402

SECRET = "event-secret-for-the-python-wrapper"


def sent(call):
    """The statuses the simulator sent and the answers it got, once the final one is in."""
    deadline = time.time() + 2
    while True:
        log = [f"{e['status']}:{e['http']}" for e in sim_answer(f"/_sim/poketalk/call?custom={call.id}")["events"]]
        if (log and log[-1][:2] in ("2:", "4:", "6:", "8:")) or time.time() > deadline:
            return log
        time.sleep(0.01)


def follow(call, until=cc.State.ENDED, limit=10.0):
    seen, deadline = [], time.time() + limit
    while True:
        st = call.status()
        if not seen or seen[-1] is not st.state:
            seen.append(st.state)
        if st.final or st.state >= until or time.time() > deadline:
            return seen, st
        time.sleep(0.005)


class Events(unittest.TestCase):
    def setUp(self):
        sim_answer("/_sim/poketalk/settings?event_period_ms=0&reply=text&reply_delay_ms=0")
        self.errors = []
        client_box = {}
        errors = self.errors

        class Receiver(BaseHTTPRequestHandler):
            def do_GET(self):  # the receiver: three lines of a real one
                try:
                    status = client_box["client"].ingest_event(self.path)
                except cc.CallConnectError as e:
                    errors.append(e)
                    status = e.http_status
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Receiver)
        port = self.server.server_address[1]
        self.client = cc.Client(sim_dsn("poketalk", "test-py-wrap", extra=(
            f"event_secret={SECRET}&event_url=http%3A%2F%2F127.0.0.1%3A{port}%2Fcb")))
        client_box["client"] = self.client
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
        self.client.close()

    def test_a_call_followed_through_events(self):
        self.assertIn(cc.Capability.EVENTS, self.client.capabilities)
        with self.client.start_call("0171 1234567", "+49 30 1234567") as call:
            seen, st = follow(call)
            self.assertIs(st.state, cc.State.ENDED, seen)
            # How many stages the polls land in depends on the load: the events the carrier
            # sent are read from the simulator below.
            self.assertEqual(seen, sorted(seen))
            self.assertTrue(st.live)
            self.assertEqual((st.duration_s, str(st.cost.amount), st.raw_status), (20, "0.040", "8"))
            self.assertEqual(sent(call), ["1:200", "3:200", "5:200", "7:200", "8:200"])
        self.assertEqual(self.errors, [])

    def test_hangup_answered_412(self):
        sim_answer("/_sim/poketalk/settings?event_period_ms=200")
        try:
            with self.client.start_call("0171 1234567", "030 1234999") as call:
                _, st = follow(call, cc.State.CONNECTED)
                self.assertIs(st.state, cc.State.CONNECTED)
                call.hangup()
                self.assertTrue(call.status().flags & cc.StatusFlag.HANGUP_PENDING)
                _, st = follow(call)
                self.assertEqual((st.state, st.reason), (cc.State.ENDED, cc.Reason.CANCELLED))
                self.assertIn("7:412", sent(call))
        finally:
            sim_answer("/_sim/poketalk/settings?event_period_ms=0")

    def test_max_cost_ends_the_call(self):
        sim_answer("/_sim/poketalk/settings?event_period_ms=60")
        try:
            with self.client.start_call("0171 1234567", "030 1234999", max_cost=decimal.Decimal("0.05")) as call:
                _, st = follow(call)
                self.assertEqual((st.state, st.reason), (cc.State.ENDED, cc.Reason.CANCELLED))
                self.assertGreaterEqual(st.cost.amount, decimal.Decimal("0.05"))
                self.assertIn("7:412", sent(call))
        finally:
            sim_answer("/_sim/poketalk/settings?event_period_ms=0")

    def test_refused_events_raise_with_the_status(self):
        with self.client.start_call("0171 1234567", "030 1234567") as call:
            url = sim_answer(f"/_sim/poketalk/call?custom={call.id}")["eventurl"]
            query = url.split("?", 1)[1].replace("$status", "7").replace("$duration", "10") \
                .replace("$debit", "0.020").replace("$webcallid", "x")
            token = [p for p in query.split("&") if p.startswith("cc_tok=")][0]
            with self.assertRaises(cc.AuthError) as e:
                self.client.ingest_event(query.replace(token, "cc_tok=AAAAAAAAAAAAAAAAAAAAAAAAAAA"))
            self.assertEqual(e.exception.http_status, 403)
            self.assertNotIn(SECRET, str(e.exception))
            with self.assertRaises(cc.InvalidArgumentError) as e:
                self.client.ingest_event("status=8")
            self.assertEqual(e.exception.http_status, 400)
            with cc.Client(sim_dsn("poketalk", "test-py-wrap", extra=f"event_secret={SECRET}&event_url="
                                   "http%3A%2F%2F127.0.0.1%3A9%2Fcb")) as other:
                with self.assertRaises(cc.NotFoundError) as e:
                    other.ingest_event(query)
                self.assertEqual(e.exception.http_status, 404)
            self.assertIs(call.status().state, cc.State.INITIATING, "refused events changed nothing")
            self.assertEqual(self.client.ingest_event("?" + query), 200)
            self.assertIs(call.status().state, cc.State.CONNECTED)
        closed = cc.Client(sim_dsn("poketalk", "test-py-wrap"))
        closed.close()
        with self.assertRaises(cc.InvalidHandleError):
            closed.ingest_event(query)
        with self.assertRaises(TypeError):
            self.client.ingest_event(b"status=8")


if __name__ == "__main__":
    unittest.main()
