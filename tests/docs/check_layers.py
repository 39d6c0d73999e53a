#!/usr/bin/env python3
"""check_layers.py - the files of src/client only call downward.

The layer of every src/client/*.c file is declared in the table under the
heading "Client layers" of docs/architecture.md, one row per layer:

  | layer | files | what |
  |---|---|---|
  | 0 | `error.c`, `placement.c`, `posix.c` | pure helpers |
  | 1 | `fd.c` | ... |

A file may use a function or global variable defined (not static) in another
client file only when that file's layer number is strictly lower: no call
upward, none between two files of one layer, so the files form no circle.

Checks:
  1. every src/client/*.c file is in the table, and every file of the table
     exists (a new or renamed file needs its layer);
  2. every use of a name defined in another client file goes downward.
Comments and string literals are not read. The names a file defines are its
non-static functions and its non-static file-scope variables.

Usage:
  check_layers.py [ROOT]        check the tree at ROOT (default: two levels up)
  check_layers.py --graph [ROOT]
                                print who uses whom: one line per pair of
                                files, "a.c -> b.c: names" (layers or not)
  check_layers.py --self-test   plant an upward call, a call within a layer
                                and a file without a layer in a scratch tree
                                and prove each is reported, and that a
                                downward call is not
Exit status: 0 clean, 1 problems found (one line each, file:line: what), 2
usage or internal error.
"""

import os
import re
import shutil
import sys
import tempfile

DOC = "docs/architecture.md"
HEADING = "Client layers"
CLIENT_DIR = "src/client"

ROW_RE = re.compile(r"^\|\s*(\d+)\s*\|([^|]*)\|")
FILE_RE = re.compile(r"`([A-Za-z0-9_]+\.c)`")
FUNC_DEF_RE = re.compile(r"^(?!static\b)(?![ \t#])[^;{}()\n=]*?\b([A-Za-z_]\w*)\s*\([^;{]*?\)\s*\{", re.M)
VAR_DEF_RE = re.compile(r"^(?!static\b|extern\b|typedef\b)(?![ \t#}])[^;{}()\n=]*?\b([A-Za-z_]\w*)\s*(?:=[^;]*)?;", re.M)


def read_layers(root):
    """{file name: layer number} from the table under the heading, or raises ValueError."""
    path = os.path.join(root, DOC)
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    layers, inside = {}, False
    for line in lines:
        m = re.match(r"^(#+)\s+(.*?)\s*$", line)
        if m:
            if inside:
                break
            inside = m.group(2) == HEADING
            continue
        if not inside:
            continue
        m = ROW_RE.match(line)
        if not m:
            continue
        for name in FILE_RE.findall(m.group(2)):
            if name in layers:
                raise ValueError("%s: %s is in two layers" % (DOC, name))
            layers[name] = int(m.group(1))
    if not layers:
        raise ValueError("%s: no layer table under the heading '%s'" % (DOC, HEADING))
    return layers


def strip_code(text):
    """C source with comments and literals blanked (newlines kept, so line numbers hold)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1 : j - 1]) + c)
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def uses(root):
    """(files, code, owner): the client files, their stripped text, and the
    file defining each non-static name."""
    cdir = os.path.join(root, CLIENT_DIR)
    files = sorted(f for f in os.listdir(cdir) if f.endswith(".c"))
    code, owner = {}, {}
    for f in files:
        with open(os.path.join(cdir, f), encoding="utf-8", errors="replace") as fh:
            code[f] = strip_code(fh.read())
        for rx in (FUNC_DEF_RE, VAR_DEF_RE):
            for m in rx.finditer(code[f]):
                owner.setdefault(m.group(1), f)
    return files, code, owner


def name_regex(owner):
    return re.compile(r"\b(%s)\b" % "|".join(sorted(map(re.escape, owner), key=len, reverse=True)))


def graph(root):
    """Lines "a.c -> b.c: names" for every file using names of another."""
    files, code, owner = uses(root)
    name_re, edges = name_regex(owner), {}
    for f in files:
        for m in name_re.finditer(code[f]):
            if owner[m.group(1)] != f:
                edges.setdefault((f, owner[m.group(1)]), set()).add(m.group(1))
    return ["%s -> %s: %s" % (a, b, " ".join(sorted(n))) for (a, b), n in sorted(edges.items())]


def check(root):
    """Problems (list of strings) of the tree at root."""
    files, code, owner = uses(root)
    try:
        layers = read_layers(root)
    except (OSError, ValueError) as e:
        return [str(e)]
    problems = []
    for f in files:
        if f not in layers:
            problems.append("%s/%s: no layer in the table of %s#client-layers" % (CLIENT_DIR, f, DOC))
    for f in sorted(layers):
        if f not in files:
            problems.append("%s: the layer table names %s/%s, which does not exist" % (DOC, CLIENT_DIR, f))

    name_re = name_regex(owner)
    for f in files:
        if f not in layers:
            continue
        for lineno, line in enumerate(code[f].split("\n"), 1):
            for m in name_re.finditer(line):
                to = owner[m.group(1)]
                if to == f or to not in layers or layers[to] < layers[f]:
                    continue
                how = "within layer %d" % layers[f] if layers[to] == layers[f] else "upward"
                problems.append(
                    "%s/%s:%d: %s (layer %d) uses %s of %s (layer %d): %s; move code so the call goes down"
                    % (CLIENT_DIR, f, lineno, f, layers[f], m.group(1), to, layers[to], how)
                )
    return problems


def self_test():
    """Plant violations in a copy of the client files; each must be reported."""
    here = os.path.dirname(os.path.abspath(__file__))
    real = os.path.normpath(os.path.join(here, "..", ".."))
    tmp = tempfile.mkdtemp(prefix="check_layers.")
    failures = []
    try:
        shutil.copytree(os.path.join(real, CLIENT_DIR), os.path.join(tmp, CLIENT_DIR),
                        ignore=shutil.ignore_patterns("*.h", "*.txt", "*.map", "*.in"))
        os.makedirs(os.path.join(tmp, "docs"))
        shutil.copy(os.path.join(real, DOC), os.path.join(tmp, DOC))
        base = check(tmp)
        if base:
            failures.append("the real tree is not clean:\n  " + "\n  ".join(base))
        layers = read_layers(tmp)
        by_layer = sorted(layers.items(), key=lambda kv: kv[1])
        low, high = by_layer[0][0], by_layer[-1][0]
        peers = [f for f, n in layers.items() if n == layers[low] and f != low]

        def plant(f, text):
            with open(os.path.join(tmp, CLIENT_DIR, f), "a", encoding="utf-8") as fh:
                fh.write(text)

        def expect(what, needle):
            got = check(tmp)
            if not any(needle in p for p in got):
                failures.append("%s was not reported (got: %s)" % (what, got or "nothing"))

        # A downward call (top file calls a bottom one's new function) is fine.
        plant(low, "\nint layers_bottom_fn(void)\n{\n    return 0;\n}\n")
        plant(high, "\n/* layers_top_fn() in a comment, \"layers_top_fn()\" in a string */\n"
                    "int layers_top_fn(void)\n{\n    return layers_bottom_fn();\n}\n")
        got = check(tmp)
        if got:
            failures.append("a downward call was reported: %s" % got)
        # An upward call: the bottom file calls the top file's function.
        plant(low, "\nstatic int layers_up(void)\n{\n    return layers_top_fn();\n}\n")
        expect("an upward call", "%s/%s:" % (CLIENT_DIR, low))
        # An upward use of a global variable.
        plant(high, "\nint layers_top_var;\n")
        plant(low, "\nstatic int layers_up_var(void)\n{\n    return layers_top_var;\n}\n")
        expect("an upward use of a variable", "uses layers_top_var of %s" % high)
        # A call within one layer.
        if peers:
            plant(peers[0], "\nint layers_peer_fn(void)\n{\n    return 0;\n}\n")
            plant(low, "\nstatic int layers_side(void)\n{\n    return layers_peer_fn();\n}\n")
            expect("a call within a layer", "within layer %d" % layers[low])
        # A file without a layer.
        plant("zz_new.c", "int layers_new_fn(void);\n")
        expect("a file without a layer", "zz_new.c: no layer")
    finally:
        shutil.rmtree(tmp)
    for f in failures:
        print("self-test: " + f)
    print("self-test: %s" % ("FAILED" if failures else "ok"))
    return 1 if failures else 0


def main(argv):
    default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    if len(argv) in (2, 3) and argv[1] == "--graph":
        for line in graph(argv[2] if len(argv) == 3 else default):
            print(line)
        return 0
    if len(argv) > 2 or (len(argv) == 2 and argv[1].startswith("-") and argv[1] != "--self-test"):
        sys.stderr.write(__doc__)
        return 2
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    root = argv[1] if len(argv) == 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    problems = check(root)
    for p in problems:
        print(p)
    if problems:
        print("%d layering problem(s): see %s#client-layers" % (len(problems), DOC))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
