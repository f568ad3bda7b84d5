#!/usr/bin/env python3
"""Compare two outputs of a trace replay line by line as JSON values.

  jsoncompare.py [--quiet] [--trace TRACE] [--label TEXT] EXPECTED ACTUAL

Key order and spacing do not matter; numbers compare by exact value (as
Decimal, so big integers are exact), booleans are not numbers, a repeated key
or a line that is not JSON is a mismatch.

With --trace, output lines are grouped per request (a result line, which has
"ok", followed by alert lines, which have "alert"); the k-th group belongs to
the k-th non-blank line of the trace, and the first differing group is shown
with its trace line number and text.

Exit status: 0 equal, 1 different, 2 usage error.
"""
import sys
import json
from decimal import Decimal


class Bad(Exception):
    pass


def _pairs(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise Bad('repeated key %r' % k)
        d[k] = v
    return d


def _const(c):
    raise Bad('constant ' + c)


DEC = json.JSONDecoder(object_pairs_hook=_pairs, parse_float=Decimal,
                       parse_int=Decimal, parse_constant=_const)


def load(line):
    """-> (ok, value or error text)"""
    try:
        return True, DEC.decode(line)
    except Exception as e:  # noqa
        return False, 'not JSON (%s)' % e


def equal(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    return a == b


def read_lines(path):
    with open(path, 'rb') as f:
        data = f.read()
    text = data.decode('utf-8', errors='replace')
    lines = text.split('\n')
    if lines and lines[-1] == '':
        lines.pop()
    return [l.rstrip('\r') for l in lines]


def line_eq(e, a):
    ok1, v1 = load(e)
    ok2, v2 = load(a)
    if not ok1 or not ok2:
        return False
    return equal(v1, v2)


def is_result(line):
    ok, v = load(line)
    return not (ok and isinstance(v, dict) and 'alert' in v)


def group(lines):
    """Group output lines: each group starts at a non-alert line."""
    groups = []
    for l in lines:
        if is_result(l) or not groups:
            groups.append([l])
        else:
            groups[-1].append(l)
    return groups


def main(argv):
    quiet = False
    trace = None
    label = None
    args = []
    i = 1
    while i < len(argv):
        if argv[i] == '--quiet':
            quiet = True
        elif argv[i] == '--trace':
            i += 1
            trace = argv[i]
        elif argv[i] == '--label':
            i += 1
            label = argv[i]
        else:
            args.append(argv[i])
        i += 1
    if len(args) != 2:
        sys.stderr.write(__doc__)
        return 2
    exp = read_lines(args[0])
    act = read_lines(args[1])
    say = (lambda *a: None) if quiet else print

    if trace is None:
        n = max(len(exp), len(act))
        for k in range(n):
            e = exp[k] if k < len(exp) else '<missing>'
            a = act[k] if k < len(act) else '<missing>'
            if k >= len(exp) or k >= len(act) or not line_eq(e, a):
                say('mismatch at output line %d' % (k + 1))
                say('  expected: %s' % e)
                say('  actual:   %s' % a)
                return 1
        return 0

    with open(trace, 'rb') as f:
        tdata = f.read()
    tlines = tdata.split(b'\n')
    if tlines and tlines[-1] == b'':
        tlines.pop()
    reqs = [(no + 1, raw) for no, raw in enumerate(tlines) if raw.strip(b' \t\r') != b'']
    ge = group(exp)
    ga = group(act)
    n = max(len(ge), len(ga))
    for k in range(n):
        e = ge[k] if k < len(ge) else []
        a = ga[k] if k < len(ga) else []
        same = len(e) == len(a) and all(line_eq(x, y) for x, y in zip(e, a))
        if not same:
            if label:
                say(label)
            if k < len(reqs):
                no, raw = reqs[k]
                say('trace line %d (request #%d): %s' % (no, k + 1,
                                                          raw.decode('utf-8', errors='replace')))
            else:
                say('request #%d: beyond the end of the trace' % (k + 1))
            say('expected:')
            for x in e or ['<nothing>']:
                say('  ' + x)
            say('actual:')
            for x in a or ['<nothing>']:
                say('  ' + x)
            return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
