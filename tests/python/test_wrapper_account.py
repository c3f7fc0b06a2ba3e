"""The callshop counter of issue 6 with the Python module alone: the balance (typed), the
price of 0171… and 030…, a calling card created with an SMS, blocked and unblocked, and
today's call records after a call, every figure in one form (decimal text, currency apart);
then the other account functions and their typed errors."""
import datetime
import decimal
import json
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))

import callconnect as cc  # noqa: E402
from ccffi import sim_dsn, sim_get, sim_stats  # noqa: E402
from jsonshape import errors as schema_errors  # noqa: E402

USER = f"test-pywrap-shop-{os.getpid()}"
DECIMAL = r"^-?[0-9]+(\.[0-9]+)?$"


def control(path):
    return json.loads(sim_get(f"/_sim/42call/{path}"))


class Counter(unittest.TestCase):
    def setUp(self):
        self.client = cc.Client(sim_dsn("42call", f"{USER}:secret-{USER}", extra="realm=testRealm"))

    def tearDown(self):
        self.client.close()

    def test_the_callshop_counter(self):
        client = self.client
        self.assertIn(cc.Capability.ACCOUNT, client.capabilities)
        # Balance, typed.
        b = client.balance()
        self.assertIsInstance(b, cc.Balance)
        self.assertIsInstance(b.balance.amount, decimal.Decimal)
        self.assertEqual(b.balance.currency, "EUR")
        self.assertTrue(b.customer_number and b.account_number)
        info = client.account_info()
        self.assertIsInstance(info, dict)
        self.assertEqual(schema_errors(info, "account.schema.json"), [])
        self.assertEqual(decimal.Decimal(info["balance"]["amount"]), b.balance.amount)
        self.assertEqual(client.known_balance(), b.balance)
        # Prices of 0171… and 030….
        rates = client.rates(["0171 1234567", "030 1234567"])
        self.assertEqual(schema_errors(rates, "rates.schema.json"), [])
        self.assertEqual([r["price"] for r in rates],
                         [{"amount": "0.10", "currency": "EUR"}, {"amount": "0.04", "currency": "EUR"}])
        self.assertEqual(client.rates("0171 1234567|030 1234567"), rates)
        # A card with an SMS, blocked and unblocked.
        number = "0171 555" + str(os.getpid() % 10000).rjust(4, "0")
        sms_before = sim_stats()["42call"]["sms_sent"]
        card = client.card_create(number, decimal.Decimal("5.00"), customer="Booth 2", send_sms=True,
                                  sms_text="Your card")
        self.assertEqual(schema_errors(card, "card.schema.json"), [])
        self.assertEqual(card["credit"], {"amount": "5.00", "currency": "EUR"})
        self.assertIs(card["active"], True)
        self.assertTrue(card["pin"])
        self.assertEqual(sim_stats()["42call"]["sms_sent"], sms_before + 1)
        e164 = card["number"]
        self.assertIs(client.card_block(number)["active"], False)
        self.assertEqual(control(f"card?user={USER}&number={e164.lstrip('+')}")["state"], "blocked")
        self.assertIs(client.card_show(number)["active"], False)
        self.assertIs(client.card_unblock(number)["active"], True)
        self.assertEqual(control(f"card?user={USER}&number={e164.lstrip('+')}")["state"], "active")
        # Today's call records, after a call.
        today = datetime.datetime.now(datetime.timezone.utc).date()  # the simulator keeps UTC
        before = client.call_records(today)
        self.assertEqual([(r["type"], r["number"]) for r in before], [("SMS", e164)], "the card's SMS is a record")
        with client.start_call("0171 1234567", "030 1234567") as call:
            deadline = time.time() + 10
            while control(f"call?user={USER}&id={call.id}")["stage"] != "ended":
                self.assertLess(time.time(), deadline)
                time.sleep(0.05)
        records = client.call_records(today, today, 10)
        self.assertEqual(schema_errors(records, "call_records.schema.json"), [])
        calls = [r for r in records if r["type"] == "CALLBACK"]
        self.assertEqual(len(records), len(before) + 1)
        self.assertEqual(len(calls), 1)
        self.assertEqual((calls[0]["number"], calls[0]["duration_s"], calls[0]["cost"]),
                         ("+49301234567", 20, {"amount": "0.01", "currency": "EUR"}))
        self.assertEqual(client.call_records(today.isoformat()), records)
        shop = client.callshop_records(today)
        self.assertEqual(schema_errors(shop, "call_records.schema.json"), [])
        self.assertIn("+491711234567", [r["caller"] for r in shop])
        self.assertLess(client.balance().balance.amount, b.balance.amount, "the call and the SMS cost money")

    def test_the_rest_and_typed_errors(self):
        client = self.client
        check = client.number_check("030 1234567")
        self.assertEqual(schema_errors(check, "number_check.schema.json"), [])
        self.assertEqual(check["number"], "+49301234567")
        dialin = client.dialin_numbers()
        self.assertEqual(schema_errors(dialin, "dialin.schema.json"), [])
        self.assertEqual(schema_errors(client.store_callthrough("0171 1234567", "030 1234567"),
                                       "dialin.schema.json"), [])
        lines = client.voip_lines()
        self.assertIsInstance(lines, list)
        self.assertEqual(schema_errors(lines, "voip_lines.schema.json"), [])
        self.assertTrue(all(line["password"] is None for line in lines))
        number = "0171 556" + str(os.getpid() % 10000).rjust(4, "0")
        card = client.card_create(number, cc.Money(decimal.Decimal("2.50"), "EUR"))
        moved = client.card_change_number(number, number[:-1] + ("1" if number[-1] != "1" else "2"))
        self.assertNotEqual(moved["number"], card["number"])
        new_number = moved["number"]
        self.assertIs(client.card_disable(new_number)["active"], False)
        with self.assertRaises(cc.ProviderError) as e:
            client.card_activate(new_number, "111222333")
        self.assertEqual(e.exception.carrier_code, "1200")
        self.assertNotIn("111222333", str(e.exception))
        self.assertIs(client.card_activate(new_number, card["pin"])["active"], True)
        with self.assertRaises(cc.NotFoundError):
            client.card_show("0171 5550199")
        with self.assertRaises(cc.InvalidNumberError):
            client.rates(["0171 1234567", "12"])
        with self.assertRaises(cc.InvalidArgumentError):
            client.call_records("20.02.2014")
        with self.assertRaises(cc.InvalidArgumentError):
            client.card_create(number, "-5")
        with cc.Client(sim_dsn("42call", "demo:hunter2")) as bad:
            with self.assertRaises(cc.AuthError) as e:
                bad.balance()
            self.assertNotIn("hunter2", str(e.exception))
        with cc.Client(sim_dsn("voipnow", "x:y", extra="extension=210")) as other:
            with self.assertRaises(cc.UnsupportedError):
                other.balance()


if __name__ == "__main__":
    unittest.main()
