"""42call account services through Python ctypes: every function, the carrier's
"nothing found" forms and its error replies, each JSON result checked against its schema."""
import ctypes
import datetime
import json
import os
import time
import unittest
from ctypes import POINTER, Structure, byref, c_bool, c_char, c_char_p, c_uint32, c_uint64, c_void_p

from ccffi import (AUTH, INSUFFICIENT_FUNDS, INVALID_ARGUMENT, INVALID_HANDLE, INVALID_NUMBER, NOT_FOUND, OK,
                   PROVIDER, last_error, lib, new_client, sim_dsn, sim_get, sim_stats, take_string)
from jsonshape import errors as schema_errors


class Balance(Structure):
    _fields_ = [
        ("amount", c_char * 32),
        ("currency", c_char * 8),
        ("customer_number", c_char * 32),
        ("account_number", c_char * 32),
        ("reserved", c_uint64 * 4),
    ]


def declare(name, *argtypes):
    f = getattr(lib, name)
    f.restype = c_uint32
    f.argtypes = list(argtypes)


OUT = POINTER(c_void_p)
declare("cc_account_balance", c_void_p, POINTER(Balance))
declare("cc_account_info", c_void_p, OUT)
declare("cc_account_rates", c_void_p, c_char_p, OUT)
declare("cc_account_call_records", c_void_p, c_char_p, c_char_p, c_uint32, OUT)
declare("cc_account_callshop_records", c_void_p, c_char_p, c_char_p, c_uint32, OUT)
declare("cc_account_number_check", c_void_p, c_char_p, OUT)
declare("cc_account_dialin_numbers", c_void_p, OUT)
declare("cc_account_store_callthrough", c_void_p, c_char_p, c_char_p, OUT)
declare("cc_account_voip_lines", c_void_p, c_bool, OUT)
declare("cc_card_create", c_void_p, c_char_p, c_char_p, c_char_p, c_bool, c_char_p, OUT)
declare("cc_card_show", c_void_p, c_char_p, OUT)
declare("cc_card_block", c_void_p, c_char_p, OUT)
declare("cc_card_unblock", c_void_p, c_char_p, OUT)
declare("cc_card_disable", c_void_p, c_char_p, OUT)
declare("cc_card_change_number", c_void_p, c_char_p, c_char_p, OUT)
declare("cc_card_activate", c_void_p, c_char_p, c_char_p, OUT)

DECIMAL = r"^-?\d+(\.\d+)?$"
RUN = str(os.getpid())


def control(path):
    return json.loads(sim_get(f"/_sim/42call/{path}"))


def module_requests(name):
    return sim_stats()["42call"]["module_requests"].get(name, 0)


def today():
    # The simulator keeps its records in UTC.
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")


class Account(unittest.TestCase):
    user = "test-py-acct-" + RUN

    def setUp(self):
        self.client = new_client(sim_dsn("42call", f"{self.user}:secret-{self.user}", extra="realm=testRealm"))

    def tearDown(self):
        lib.cc_client_free(self.client)

    def json_of(self, fn, *args, schema):
        out = c_void_p()
        r = getattr(lib, fn)(self.client, *args, byref(out))
        self.assertEqual(r, OK, f"{fn}: {last_error()}")
        value = json.loads(take_string(out))
        self.assertEqual(schema_errors(value, schema), [], fn)
        return value

    def fails(self, fn, *args, code):
        out = c_void_p()
        r = getattr(lib, fn)(self.client, *args, byref(out))
        self.assertEqual(r, code, f"{fn}: {last_error()}")
        self.assertIsNone(out.value, "an output is written only on success")
        return last_error()

    def test_balance_typed_and_account_json(self):
        b = Balance()
        self.assertEqual(lib.cc_account_balance(self.client, byref(b)), OK, last_error())
        self.assertRegex(b.amount.decode(), DECIMAL)
        self.assertEqual(b.currency, b"EUR")
        self.assertTrue(b.customer_number and b.account_number)
        a = self.json_of("cc_account_info", schema="account.schema.json")
        self.assertEqual(a["balance"]["amount"], b.amount.decode())
        self.assertEqual(a["customer_number"], b.customer_number.decode())
        self.assertEqual(lib.cc_account_balance(self.client, None), INVALID_ARGUMENT)
        self.assertEqual(lib.cc_account_balance(None, byref(b)), INVALID_HANDLE)
        bad = new_client(sim_dsn("42call", "demo:hunter2"))
        self.assertEqual(lib.cc_account_balance(bad, byref(b)), AUTH)
        self.assertNotIn("hunter2", last_error())
        lib.cc_client_free(bad)

    def test_rates(self):
        before = module_requests("rates")
        r = self.json_of("cc_account_rates", b"0171 1234567|030 1234567|0171 1234404", schema="rates.schema.json")
        self.assertEqual([x["input"] for x in r], ["0171 1234567", "030 1234567", "0171 1234404"])
        self.assertEqual(r[0]["price"], {"amount": "0.10", "currency": "EUR"})
        self.assertEqual(r[0]["prefix"], "+49171")
        self.assertEqual(r[1]["price"], {"amount": "0.04", "currency": "EUR"})
        self.assertEqual(r[1]["destination"], "Germany")
        self.assertIsNone(r[2]["price"])  # no rate for this number
        self.fails("cc_account_rates", b"0171 1234567|12", code=INVALID_NUMBER)
        self.fails("cc_account_rates", None, code=INVALID_ARGUMENT)
        self.assertEqual(module_requests("rates"), before + 1)

    def test_call_records(self):
        day = today().encode()
        # A fresh account: the carrier's two ways of saying "nothing" are both [].
        self.assertEqual(self.json_of("cc_account_call_records", day, None, 0, schema="call_records.schema.json"), [])
        self.assertEqual(self.json_of("cc_account_callshop_records", day, day, 5,
                                      schema="call_records.schema.json"), [])
        call = c_void_p()
        self.assertEqual(lib.cc_start_call(self.client, b"0171 1234567", b"030 1234567", None, byref(call)), OK)
        cid = c_void_p()
        lib.cc_call_id(call, byref(cid))
        cid = take_string(cid)
        deadline = time.time() + 10
        while control(f"call?user={self.user}&id={cid}")["stage"] != "ended":
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)
        lib.cc_call_free(call)
        table = self.json_of("cc_account_call_records", day, day, 10, schema="call_records.schema.json")
        self.assertEqual(len(table), 1)
        self.assertEqual(table[0]["number"], "+49301234567")
        self.assertEqual(table[0]["duration_s"], 20)
        self.assertEqual(table[0]["type"], "CALLBACK")
        self.assertEqual(table[0]["cost"], {"amount": "0.01", "currency": "EUR"})
        shop = self.json_of("cc_account_callshop_records", day, None, 0, schema="call_records.schema.json")
        self.assertEqual(shop[0]["cost"], {"amount": "0.0133", "currency": "EUR"})
        self.assertEqual(shop[0]["caller"], "+491711234567")
        self.assertTrue(shop[0]["start"].startswith(today() + "T"))
        for frm, to in [(b"20.02.2014", None), (b"2014-02-20", b"2014-02-19"), (None, None)]:
            self.fails("cc_account_call_records", frm, to, 0, code=INVALID_ARGUMENT)

    def test_number_check(self):
        n = self.json_of("cc_account_number_check", b"0179 1234567", schema="number_check.schema.json")
        self.assertEqual((n["number"], n["prefix"], n["destination"]),
                         ("+491791234567", "+49179", "Germany Mobile O2"))
        self.fails("cc_account_number_check", b"0171 1234404", code=NOT_FOUND)
        self.assertEqual(lib.cc_last_error_carrier_code(), b"1001")
        self.fails("cc_account_number_check", b"0171", code=INVALID_NUMBER)

    def test_dialin_and_store(self):
        d = self.json_of("cc_account_dialin_numbers", schema="dialin.schema.json")
        self.assertEqual(d["dialin_geo"]["DE"], "+493034649495")
        self.assertEqual(d["callback_free"], {})
        out = c_void_p()
        self.assertEqual(lib.cc_account_store_callthrough(self.client, b"0171 1234567", b"030 1234567", byref(out)), OK)
        d = json.loads(take_string(out))
        self.assertEqual(schema_errors(d, "dialin.schema.json"), [])
        self.assertEqual((d["callthrough_a"], d["callthrough_b"]), ("+491711234567", "+49301234567"))
        self.assertEqual(lib.cc_account_store_callthrough(self.client, b"0171 1234567", b"030 1234567", None), OK)
        self.assertEqual(lib.cc_account_store_callthrough(self.client, b"0171", b"030 1234567", None), INVALID_NUMBER)
        broke = new_client(sim_dsn("42call", "broke:broke-secret"))
        out = c_void_p()
        self.assertEqual(lib.cc_account_dialin_numbers(broke, byref(out)), OK)
        d = json.loads(take_string(out))
        self.assertEqual((d["dialin_geo"], d["personal_dialin"]), ({}, None))
        lib.cc_client_free(broke)

    def test_voip_lines(self):
        lines = self.json_of("cc_account_voip_lines", True, schema="voip_lines.schema.json")
        self.assertEqual([l["id"] for l in lines], ["sip_1", "sip_2"])
        self.assertEqual((lines[0]["password"], lines[0]["password_form"]), (f"Sip-{self.user}-pw1", "plain"))
        self.assertEqual(lines[1]["password_form"], "base64")
        self.assertEqual(lines[0]["transports"], ["TCP"])
        self.assertIs(lines[0]["settings"]["forbid_self_call"], True)
        hidden = self.json_of("cc_account_voip_lines", False, schema="voip_lines.schema.json")
        self.assertTrue(all(l["password"] is None and l["password_form"] == "omitted" for l in hidden))
        for user in ("broke:broke-secret", "nocard:nocard-secret"):
            other = new_client(sim_dsn("42call", user))
            out = c_void_p()
            self.assertEqual(lib.cc_account_voip_lines(other, True, byref(out)), OK)
            self.assertEqual(json.loads(take_string(out)), [])
            lib.cc_client_free(other)

    def test_cards(self):
        stats = sim_stats()["42call"]
        card = self.json_of("cc_card_create", b"0171 5550101", b"Booth 2", b"5.00", True, b"Your card", schema="card.schema.json")
        self.assertEqual(card["number"], "+491715550101")
        self.assertEqual(card["credit"], {"amount": "5.00", "currency": "EUR"})
        self.assertIs(card["active"], True)
        pin = card["pin"]
        after = sim_stats()["42call"]
        self.assertEqual(after["cards_created"], stats["cards_created"] + 1)
        self.assertEqual(after["sms_sent"], stats["sms_sent"] + 1)
        state = lambda n: control(f"card?user={self.user}&number={n}")["state"]  # noqa: E731
        self.assertIs(self.json_of("cc_card_block", b"0171 5550101", schema="card.schema.json")["active"], False)
        self.assertEqual(state("491715550101"), "blocked")
        self.assertIs(self.json_of("cc_card_show", b"+49 171 5550101", schema="card.schema.json")["active"], False)
        self.assertIs(self.json_of("cc_card_unblock", b"0171 5550101", schema="card.schema.json")["active"], True)
        self.assertEqual(state("491715550101"), "active")
        moved = self.json_of("cc_card_change_number", b"0171 5550101", b"0171 5550102", schema="card.schema.json")
        self.assertEqual(moved["number"], "+491715550102")
        self.assertIs(self.json_of("cc_card_disable", b"0171 5550102", schema="card.schema.json")["active"], False)
        self.assertEqual(state("491715550102"), "disabled")
        msg = self.fails("cc_card_activate", b"0171 5550102", b"111222333", code=PROVIDER)
        self.assertEqual(lib.cc_last_error_carrier_code(), b"1200")
        self.assertNotIn("111222333", msg)
        self.assertIs(self.json_of("cc_card_activate", b"0171 5550102", pin.encode(), schema="card.schema.json")["active"],
                      True)
        # Unknown card: the carrier's empty body (show) or its code 1001.
        self.fails("cc_card_show", b"0171 5550199", code=NOT_FOUND)
        self.fails("cc_card_block", b"0171 5550199", code=NOT_FOUND)
        self.assertEqual(lib.cc_card_unblock(self.client, b"0171 5550102", None), OK)
        self.fails("cc_card_create", b"0171 5550103", None, b"-5", False, None, code=INVALID_ARGUMENT)
        broke = new_client(sim_dsn("42call", "broke:broke-secret"))
        out = c_void_p()
        self.assertEqual(lib.cc_card_create(broke, b"0171 5550101", None, b"5", True, None, byref(out)),
                         INSUFFICIENT_FUNDS)
        lib.cc_client_free(broke)
        no_realm = new_client(sim_dsn("42call", f"{self.user}:secret-{self.user}"))
        self.assertEqual(lib.cc_card_disable(no_realm, b"0171 5550102", None), INVALID_ARGUMENT)
        self.assertIn("realm", last_error())
        lib.cc_client_free(no_realm)


if __name__ == "__main__":
    unittest.main()
