#!/usr/bin/env python3
"""Writes tests/data/libphonenumber-answers.tsv: what libphonenumber says of numbers
near every example number of the metadata, for tests/number_answers.rs.

The answers are those of `phonenumbers` (David Drysdale's Python port of Google's
libphonenumber, made from the same metadata release as vendor/phonenumber's
PhoneNumberMetadata.xml: 9.0.33), so that the vendored crate's reading of a number is
checked against libphonenumber's own, not against itself.

    python3 -m venv /tmp/pn && /tmp/pn/bin/pip install phonenumbers==9.0.33
    /tmp/pn/bin/python tools/libphonenumber_answers.py

Each line: the default region (`-` for none), the text, and libphonenumber's answer:
`error` (parse() raises), `invalid` (is_valid_number() is false), or the number in E.164.
"""
import os
import re
import sys

import phonenumbers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
XML = os.path.join(ROOT, "vendor", "phonenumber", "assets", "PhoneNumberMetadata.xml")
OUT = os.path.join(ROOT, "tests", "data", "libphonenumber-answers.tsv")
VERSION = "9.0.33"


def territories(xml):
    for m in re.finditer(r"<territory\b([^>]*)>(.*?)</territory>", xml, re.S):
        attrs = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        examples = re.findall(r"<exampleNumber>\s*(\d+)\s*</exampleNumber>", m.group(2))
        yield attrs, examples


def near(example):
    """The example and its near misses: a digit fewer or more, another first or last digit."""
    bump = lambda c: str((int(c) + 1) % 10)
    out = [example, example[:-1], example + "0", example + "9", example + "55",
           bump(example[0]) + example[1:], example[:-1] + bump(example[-1])]
    return [t for t in out if t]


def answer(text, region):
    try:
        n = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return "error"
    if not phonenumbers.is_valid_number(n):
        return "invalid"
    return phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)


def main():
    if phonenumbers.__version__ != VERSION:
        sys.exit(f"phonenumbers {phonenumbers.__version__}: the metadata is {VERSION}")
    with open(XML, encoding="utf-8") as f:
        xml = f.read()
    rows = set()
    for attrs, examples in territories(xml):
        region, code = attrs["id"], attrs["countryCode"]
        national_prefix = attrs.get("nationalPrefix", "")
        idd = attrs.get("preferredInternationalPrefix") or (
            attrs.get("internationalPrefix") if re.fullmatch(r"\d+", attrs.get("internationalPrefix", "")) else None)
        for example in examples:
            for t in near(example):
                # Written in full, with + and with the international prefix of Germany.
                rows.add(("-", f"+{code} {t}"))
                rows.add(("DE", f"00{code} {t}"))
                if region == "001":
                    continue
                # Written as people of the region write it, and with its country code
                # but no + (libphonenumber takes the code off when it must).
                rows.add((region, f"{national_prefix}{t}"))
                rows.add((region, t))
                rows.add((region, f"{code}{t}"))
                if idd:
                    rows.add((region, f"{idd}{code}{t}"))
                    # A + before the international prefix: libphonenumber reads the
                    # digits after a + that start no country code again, as dialled in
                    # the region.
                    rows.add((region, f"+{idd}{code}{t}"))
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(f"# libphonenumber {VERSION} (Python port `phonenumbers`), tools/libphonenumber_answers.py\n")
        for region, text in sorted(rows):
            f.write(f"{region}\t{text}\t{answer(text, None if region == '-' else region)}\n")
    print(f"{len(rows)} answers in {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
