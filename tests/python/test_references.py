"""Call references through Python: a reference made by another process of the same account
attaches; a forged (unsigned), altered, truncated or foreign one is refused with
CC_ERR_INVALID_ARGUMENT (the wrapper: InvalidArgumentError) and nothing reaches the
simulator; a decoded reference shows no credential (Connect Call's session GUID above all)."""
import base64
import json
import os
import subprocess
import sys
import unittest
from ctypes import byref, c_void_p

from ccffi import INVALID_ARGUMENT, OK, last_error, lib, new_client, sim_dsn, sim_get, sim_stats, take_string

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "bindings", "python"))
import callconnect as cc  # noqa: E402

CHILD = """
import sys
sys.path.insert(0, {here!r})
from ctypes import byref, c_void_p
from ccffi import OK, lib, new_client, take_string
client = new_client({dsn!r})
call = c_void_p()
assert lib.cc_start_call(client, b"0171 1234567", b"030 1234567", None, byref(call)) == OK
ref = c_void_p()
assert lib.cc_call_ref(call, byref(ref)) == OK
print(take_string(ref))
"""


def dsn(user):
    return sim_dsn("connectcall", f"{user}:secret-{user}", "/api/")


def requests():
    return sim_stats()["_requests"]["total"]


def readable(ref):
    body = ref.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def b64(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class References(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        out = subprocess.run([sys.executable, "-c", CHILD.format(here=HERE, dsn=dsn("test-py-refs"))],
                             capture_output=True, text=True, timeout=60, env=os.environ)
        assert out.returncode == 0, out.stderr
        cls.ref = out.stdout.strip()

    def attach(self, client, ref):
        h = c_void_p()
        r = lib.cc_call_attach(client, ref.encode(), byref(h))
        return r, h

    def refused(self, client, ref, why):
        before = requests()
        r, h = self.attach(client, ref)
        self.assertEqual(r, INVALID_ARGUMENT, last_error())
        self.assertFalse(h.value)
        self.assertIn(why, last_error())
        self.assertEqual(requests(), before, "nothing reaches the simulator")

    def test_a_reference_from_another_process_of_the_account_attaches(self):
        client = new_client(dsn("test-py-refs"))
        r, h = self.attach(client, self.ref)
        self.assertEqual(r, OK, last_error())
        p = c_void_p()
        self.assertEqual(lib.cc_call_id(h, byref(p)), OK)
        self.assertTrue(take_string(p).startswith("cc-"))
        self.assertEqual(lib.cc_hangup(h), OK, last_error())
        lib.cc_call_free(h)
        lib.cc_client_free(client)

    def test_forged_altered_truncated_and_foreign_are_refused(self):
        client = new_client(dsn("test-py-refs"))
        other = new_client(dsn("test-py-refs-other"))
        self.refused(other, self.ref, "another account")
        record = readable(self.ref)
        body, tag = self.ref[4:].rsplit(".", 1)
        for field, value in (("limit_s", 1), ("started_ms", 0), ("id", "cc-0000000000000000-1")):
            changed = dict(record, **{field: value})
            self.refused(client, f"cc2.{b64(json.dumps(changed).encode())}.{tag}", "altered")
        self.refused(client, self.ref[:-3], "truncated")
        self.refused(client, self.ref[: len(self.ref) // 2], "refused call reference")
        forged = {"v": 1, "carrier": "connectcall", "id": record["id"], "started_ms": record["started_ms"],
                  "limit_s": 600, "extra": {"guid": "4AF46744-C346-44FF-80E3-33D89FBE963B", "seq": 1, "type": 1}}
        self.refused(client, "cc1." + b64(json.dumps(forged).encode()), "unsigned")
        lib.cc_client_free(client)
        lib.cc_client_free(other)

    def test_no_decoded_reference_shows_a_credential(self):
        guid = json.loads(sim_get("/_sim/connectcall/session?login=test-py-refs"))["guid"]
        self.assertTrue(guid)
        text = json.dumps(readable(self.ref))
        for secret in (guid, "secret-test-py-refs"):
            self.assertNotIn(secret, text)
            self.assertNotIn(secret, self.ref)
        self.assertNotIn("extra", readable(self.ref))

    def test_the_wrapper_raises_its_own_error(self):
        with cc.Client(dsn("test-py-refs")) as client:
            body, tag = self.ref[4:].rsplit(".", 1)
            tampered = dict(readable(self.ref), started_ms=10 ** 17)
            for ref in (f"cc2.{b64(json.dumps(tampered).encode())}.{tag}", self.ref[:-3], "cc1.e30"):
                with self.assertRaises(cc.InvalidArgumentError) as e:
                    client.attach(ref)
                self.assertEqual(e.exception.result, cc.Result.INVALID_ARGUMENT)
        with cc.Client(dsn("test-py-refs-other")) as other:
            with self.assertRaises(cc.InvalidArgumentError) as e:
                other.attach(self.ref)
            self.assertIn("another account", str(e.exception))


if __name__ == "__main__":
    unittest.main()
