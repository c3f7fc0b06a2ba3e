"""The names a host sees for call states and fail reasons: cc_state_name and
cc_reason_name give, for every value of the header's enums, the enum's own name
(CC_STATE_RINGING_B -> "RINGING_B"), and "?" past the last. tests/pinned.rs holds the Rust
names to the same C names; the PHP and Python wrappers show these strings."""
import os
import re
import unittest

from ccffi import lib

HEADER = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                      "include", "callconnect.h")


def enum_values(prefix):
    with open(HEADER) as f:
        text = f.read()
    return {int(v): n for n, v in re.findall(rf"\b{prefix}([A-Z_]+) = (\d+),", text)}


class Names(unittest.TestCase):
    def check(self, prefix, name_of, count):
        values = enum_values(prefix)
        self.assertEqual(sorted(values), list(range(count)), values)
        for value, name in values.items():
            self.assertEqual(name_of(value), name.encode(), value)
        self.assertEqual(name_of(count), b"?")

    def test_state_names_are_the_header_names(self):
        self.check("CC_STATE_", lib.cc_state_name, 7)

    def test_reason_names_are_the_header_names(self):
        self.check("CC_REASON_", lib.cc_reason_name, 9)


if __name__ == "__main__":
    unittest.main()
