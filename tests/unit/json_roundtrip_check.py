"""Checks JSON lines written by agora against an independent description.

Usage: json_roundtrip_check.py JSONL DESCRIPTION

test_json_roundtrip.c writes the same random values twice. JSONL contains
them as agora's JSON writer printed them, one document a line. DESCRIPTION
contains each one as space-separated prefix tokens that never go through
agora's JSON code:

    n | t | f                    null, true, false
    i:DECIMAL                    int64 (printed by printf)
    d:HEX16                      double, its IEEE 754 bits, big-endian hex
    s:HEX                        string, its UTF-8 bytes in hex
    a:COUNT VALUE...             array of COUNT values
    o:COUNT k:HEX VALUE ...      object of COUNT members in order

Two reference parsers read JSONL:
  - Python's json module: every document must equal the described value,
    with ints exact, doubles bit for bit (so -0.0 keeps its sign), strings
    exact, key order kept, and no int/double/bool confusion. Each double's
    text must have as many significant digits as Python's repr, which is the
    shortest text that reads back to the same double.
  - jq (1.6 in Debian 12) must accept every line, and its paths, node types
    and string values must match the description. jq turns every number into
    a double, so numbers are compared through Python only.

Exits 0 when everything matches, 1 with a message naming the line otherwise.
"""
import json
import struct
import subprocess
import sys


class DoubleText(str):
    """A JSON number with a fraction or exponent, kept as its source text."""


def parse_description(tokens, pos):
    token = tokens[pos]
    kind, _, arg = token.partition(":")
    if token == "n":
        return None, pos + 1
    if token == "t":
        return True, pos + 1
    if token == "f":
        return False, pos + 1
    if kind == "i":
        return int(arg), pos + 1
    if kind == "d":
        return struct.unpack(">d", bytes.fromhex(arg))[0], pos + 1
    if kind == "s":
        return bytes.fromhex(arg).decode("utf-8"), pos + 1
    if kind == "a":
        items = []
        pos += 1
        for _ in range(int(arg)):
            item, pos = parse_description(tokens, pos)
            items.append(item)
        return items, pos
    if kind == "o":
        members = {}
        pos += 1
        for _ in range(int(arg)):
            key_kind, _, key_hex = tokens[pos].partition(":")
            if key_kind != "k":
                raise ValueError("expected a key token, got %r" % tokens[pos])
            key = bytes.fromhex(key_hex).decode("utf-8")
            if key in members:
                raise ValueError("duplicate key %r in the description" % key)
            members[key], pos = parse_description(tokens, pos + 1)
        return members, pos
    raise ValueError("unknown description token %r" % token)


def significant_digits(text):
    mantissa = text.lower().split("e")[0].lstrip("-").replace(".", "")
    return mantissa.lstrip("0").rstrip("0")


def compare(actual, expected, where):
    """Returns None when equal, else a message naming the first difference."""
    if isinstance(expected, float):
        if not isinstance(actual, DoubleText):
            return "%s: expected a double, got %r" % (where, actual)
        bits_actual = struct.pack(">d", float(actual))
        bits_expected = struct.pack(">d", expected)
        if bits_actual != bits_expected:
            return "%s: %s reads back as %r, expected %r" % (
                where, actual, float(actual), expected)
        shortest = significant_digits(repr(expected))
        if len(significant_digits(actual)) != len(shortest):
            return "%s: %s is not the shortest form, repr gives %s" % (
                where, actual, repr(expected))
        return None
    if type(actual) is not type(expected):
        return "%s: expected %s %r, got %s %r" % (
            where, type(expected).__name__, expected, type(actual).__name__, actual)
    if isinstance(expected, list):
        if len(actual) != len(expected):
            return "%s: expected %d items, got %d" % (where, len(expected), len(actual))
        for i, (a, e) in enumerate(zip(actual, expected)):
            message = compare(a, e, "%s[%d]" % (where, i))
            if message:
                return message
        return None
    if isinstance(expected, dict):
        if list(actual) != list(expected):
            return "%s: expected keys %r, got %r" % (where, list(expected), list(actual))
        for key in expected:
            message = compare(actual[key], expected[key], "%s[%r]" % (where, key))
            if message:
                return message
        return None
    if actual != expected:
        return "%s: expected %r, got %r" % (where, expected, actual)
    return None


def jq_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def jq_view(value, path, paths, types, strings):
    """Fills what jq's [paths], [.. | type] and [.. | strings] list, in order."""
    if path:
        paths.append(list(path))
    types.append(jq_type(value))
    if isinstance(value, str):
        strings.append(value)
    children = []
    if isinstance(value, list):
        children = list(enumerate(value))
    elif isinstance(value, dict):
        children = list(value.items())
    for step, child in children:
        jq_view(child, path + [step], paths, types, strings)


def reject_constant(name):
    raise ValueError("non-standard constant %s" % name)


def main():
    jsonl_path, description_path = sys.argv[1], sys.argv[2]
    with open(jsonl_path, "rb") as f:
        lines = f.read().decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    with open(description_path, encoding="ascii") as f:
        descriptions = f.read().splitlines()
    if len(lines) != len(descriptions):
        print("%d JSON lines but %d descriptions" % (len(lines), len(descriptions)))
        return 1

    expected_values = []
    for number, (line, description) in enumerate(zip(lines, descriptions), 1):
        tokens = description.split(" ")
        expected, end = parse_description(tokens, 0)
        if end != len(tokens):
            print("description line %d has %d unused tokens" % (number, len(tokens) - end))
            return 1
        expected_values.append(expected)
        try:
            actual = json.loads(line, parse_float=DoubleText,
                                parse_constant=reject_constant)
        except ValueError as e:
            print("line %d: Python's json rejects it (%s): %s" % (number, e, line[:200]))
            return 1
        message = compare(actual, expected, "line %d" % number)
        if message:
            print(message)
            return 1

    jq = subprocess.run(
        ["jq", "-c", "[[paths], [.. | type], [.. | strings]]", jsonl_path],
        capture_output=True, text=True, encoding="utf-8")
    if jq.returncode != 0:
        print("jq rejects the JSONL (exit %d): %s" % (jq.returncode, jq.stderr.strip()))
        return 1
    jq_lines = jq.stdout.splitlines()
    if len(jq_lines) != len(lines):
        print("jq printed %d results for %d lines" % (len(jq_lines), len(lines)))
        return 1
    for number, (jq_line, expected) in enumerate(zip(jq_lines, expected_values), 1):
        paths, types, strings = [], [], []
        jq_view(expected, [], paths, types, strings)
        got = json.loads(jq_line)
        for name, want, have in (("paths", paths, got[0]), ("types", types, got[1]),
                                 ("strings", strings, got[2])):
            if want != have:
                print("line %d: jq %s differ: expected %r, jq gives %r" % (
                    number, name, want, have))
                return 1
    print("%d lines match Python's json and jq" % len(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
