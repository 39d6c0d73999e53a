#!/usr/bin/python3
"""cg_ops.py - instructions per call of chosen functions in callgrind output.

    cg_ops.py FILE REGEX [REGEX...]      (bench/profile.sh calls it)

For every function whose name matches one of the regular expressions, sums
over all its call sites the number of calls and the inclusive instruction
count (Ir) of those calls, and prints one line per function: calls,
inclusive Ir, Ir per call. Also prints the file's total Ir. Reads the
callgrind format directly (compressed names, relative positions), so no
callgrind_annotate options are involved. Recursion is counted once per
outermost call site only in the usual callgrind sense (inclusive costs of
recursive functions are overstated; none of the API functions recurse).
"""
import re
import sys

NAME_KIND = {"fn": "fn", "cfn": "fn", "fl": "fl", "fi": "fl", "fe": "fl",
             "cfi": "fl", "cfl": "fl", "ob": "ob", "cob": "ob"}


def parse(path):
    names = {"fn": {}, "fl": {}, "ob": {}}
    calls = {}      # function -> [calls, inclusive Ir]
    total = 0
    cfn = None
    pending = None  # call count of the last calls= line
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            c = line[0]
            if c.isdigit() or c in "+-*":
                if pending is not None:
                    parts = line.split()
                    ir = int(parts[1]) if len(parts) > 1 else 0
                    e = calls.setdefault(cfn, [0, 0])
                    e[0] += pending
                    e[1] += ir
                    pending = None
                continue
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split(":", 1)[1].split()[0]))
                continue
            key, _, val = line.partition("=")
            if key in NAME_KIND:
                m = re.match(r"\((\d+)\)(?: (.*))?$", val)
                kind = NAME_KIND[key]
                if m:
                    if m.group(2) is not None:
                        names[kind][m.group(1)] = m.group(2)
                    name = names[kind].get(m.group(1), val)
                else:
                    name = val
                if key == "cfn":
                    cfn = name
                continue
            if key == "calls":
                pending = int(val.split()[0])
                continue
    return calls, total


def main():
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    calls, total = parse(sys.argv[1])
    pats = [re.compile(p) for p in sys.argv[2:]]
    print("total_ir\t%d" % total)
    for name in sorted(calls):
        if any(p.search(name) for p in pats):
            n, ir = calls[name]
            if n:
                print("%s\t%d\t%d\t%.0f" % (name, n, ir, ir / n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
