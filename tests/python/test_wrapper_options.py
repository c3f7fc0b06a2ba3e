"""Every call option through the Python module: a VoipNow ring group (a list of A numbers)
with both caller ids, wait_for_pickup, max_duration, allow_public_transfer and video, as
the simulator received them, followed to the end; two Connect Call calls in one session
with connect_type; correlation and max_cost refused where the carrier cannot honour them."""
import base64
import decimal
import json
import os
import sys
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))

import callconnect as cc  # noqa: E402
from ccffi import sim_dsn, sim_get, sim_stats  # noqa: E402


def follow(call, limit=20.0):
    seen, deadline = [], time.time() + limit
    while time.time() < deadline:
        st = call.status()
        if not seen or seen[-1] is not st.state:
            seen.append(st.state)
        if st.final:
            return seen, st
        time.sleep(0.01)
    raise AssertionError(f"the call never ended: {seen}")


class Options(unittest.TestCase):
    def test_voipnow_ring_group_and_caller_ids(self):
        app = f"test-vn-pywrap-{os.getpid()}"
        self.assertEqual(sim_get(f"/_sim/voipnow/step-ms?client={app}&ms=100"), "ok")
        with cc.Client(sim_dsn("voipnow", f"{app}:secret-{app}", extra="extension=210")) as client:
            want = cc.Capability.RING_GROUP | cc.Capability.CALLER_ID | cc.Capability.CALL_FLAGS
            self.assertEqual(client.capabilities & want, want)
            call = client.start_call(["0171 1234486", "0171 1234567"], "030 1234567",
                                     caller_id="Booth 7 <+4930123456>", caller_id_b="Callshop <+4930999999>",
                                     wait_for_pickup=30, max_duration=600, allow_public_transfer=True,
                                     video=True)
            asked = json.loads(sim_get(f"/_sim/voipnow/call?id={call.id}"))
            self.assertEqual(asked["source"], ["+491711234486", "+491711234567"])
            self.assertEqual(asked["winner"], "+491711234567")
            self.assertEqual((asked["callerId"], asked["callerIdDestination"]),
                             ("Booth 7 <+4930123456>", "Callshop <+4930999999>"))
            self.assertEqual((asked["waitForPickup"], asked["callDuration"]), ("30", "600"))
            self.assertEqual((asked["allowPublicTransfer"], asked["video"]), ("true", "true"))
            # Which stages a poll lands in depends on the load: their order and the end (20 s
            # talked, from the call record) say that the call was connected.
            seen, st = follow(call)
            self.assertEqual(seen, sorted(seen))
            self.assertEqual((st.state, st.reason, st.duration_s), (cc.State.ENDED, cc.Reason.NONE, 20))
            # No public VoipNow record shows a cost: none is made up.
            self.assertIsNone(st.cost)
            call.close()
            # A ring group given as one text is the same thing.
            call = client.start_call("0171 1234486|0171 1234567", "030 1234567")
            self.assertEqual(json.loads(sim_get(f"/_sim/voipnow/call?id={call.id}"))["source"],
                             ["+491711234486", "+491711234567"])
            call.hangup()
            call.close()
            counters = json.loads(sim_get(f"/_sim/voipnow/client?id={app}"))
            self.assertEqual(counters["calls_placed"], 2)
            with self.assertRaises(cc.InvalidArgumentError):
                client.start_call("0171 1234567", "030 1234567", caller_id_b="Shop <+49 30 1234>")
            with self.assertRaises(TypeError):
                client.start_call([b"0171 1234567"], "030 1234567")

    def test_connectcall_two_calls_in_one_session(self):
        login = f"test-pywrap-cc-{os.getpid()}"
        control = lambda action, **p: sim_get(f"/_sim/connectcall/{action}?"  # noqa: E731
                                              + urllib.parse.urlencode(dict(p, login=login)))
        control("pace", step_ms=100)
        with cc.Client(sim_dsn("connectcall", f"{login}:secret-{login}", "/api/")) as client:
            self.assertIn(cc.Capability.CONNECT_TYPE, client.capabilities)
            first = client.start_call("0171 1234567", "030 1234567", connect_type=2)
            self.assertEqual(json.loads(control("session"))["type"], 2)
            seen, st = follow(first)
            self.assertEqual(seen, sorted(seen))
            # 30: B ended the call after the bridge.
            self.assertEqual((st.state, st.raw_status), (cc.State.ENDED, "30"))
            second = client.start_call("0171 7654321", "+49 30 7654321", connect_type=2)
            seen, st = follow(second)
            self.assertEqual(seen, sorted(seen))
            self.assertEqual((st.state, st.raw_status), (cc.State.ENDED, "30"))
            acct = json.loads(control("account"))
            self.assertEqual((acct["logins"], acct["connects"], acct["calls_placed"]), (1, 1, 2), acct)
            self.assertNotEqual(first.id, second.id)
            first.close()
            second.close()

    def test_options_a_carrier_cannot_honour(self):
        before = sim_stats()["42call"]["calls_placed"]
        with cc.Client(sim_dsn("42call", "test-pywrap-opt:secret-test-pywrap-opt")) as client:
            for option in ({"max_cost": decimal.Decimal("0.50")}, {"max_cost": cc.Money(decimal.Decimal("1"), "EUR")},
                           {"wait_for_pickup": 30}, {"connect_type": 2}, {"video": True},
                           {"caller_id_b": "Shop <+4930123456>"}):
                args = dict(a_number="0171 1234567", b_number="030 1234567")
                args.update(option)
                with self.assertRaises(cc.UnsupportedError, msg=str(option)):
                    client.start_call(**args)
            self.assertEqual(sim_stats()["42call"]["calls_placed"], before, "nothing was placed")
            with client.start_call("0171 1234567", "030 1234567", correlation="booth-7") as call:
                self.assertEqual(sim_stats()["42call"]["calls_placed"], before + 1)
                body = call.ref().split(".")[1]
                record = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
                self.assertIn("booth-7", json.dumps(record), "the correlation is kept with the call")


if __name__ == "__main__":
    unittest.main()
