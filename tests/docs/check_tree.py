#!/usr/bin/env python3
"""check_tree.py - a clone of BenchFS must explain itself.

Checks every text file of the source tree (tracked files plus new files git
does not ignore; without git, every file outside build directories) for

  1. paths of one particular machine: the strings listed in MACHINE_PATHS
     (a home or root directory, a git mirror, a sibling directory outside
     the checkout, an IOR checkout under /tmp). Generic example locations
     such as /tmp/bfs, /shared/registry, /dev/shm or /proc are fine;
  2. Markdown links [text](target) in .md files: a relative target must be a
     file or directory of the tree (relative to the linking file), and a
     #fragment must be the GitHub slug of a heading of the target .md file
     (or of the linking file for a bare #fragment);
  3. tree paths mentioned anywhere (comments, docs, scripts): a file (last
     name has an extension) or directory (trailing '/') that starts with one
     of TREE_DIRS ("docs/design.md#event-loop", "src/server/op_*.c",
     "tests/fuzz/seeds/<target>/") must name something
     in the tree, or something .gitignore covers (generated output such as
     bench/results/). *, ?, [..], {a,b}, <placeholder> and $VAR match any
     name; a #fragment of a .md file is checked as in 2;
  4. other Markdown file names: one with a directory ("shared/X.md") must
     exist relative to the top of the tree; a bare name in capitals
     ("STYLE.md") must be the name of a file of the tree.

A line containing the marker "tree-check: ignore" is skipped (for text that
must quote a forbidden string, like the description of this rule). Files in
EXEMPT are not read. Fuzz corpora and binary files are skipped.

Usage:
  check_tree.py [ROOT]        check the tree at ROOT (default: two levels up)
  check_tree.py --self-test   plant one bad reference of each kind in a
                              scratch tree and prove each one is reported,
                              and that legitimate text is not
Exit status: 0 clean, 1 problems found (one line each, file:line: what), 2
usage or internal error.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

MARKER = "tree-check: ignore"

# Strings that only occur in paths of one developer's machine. Written
# split so that a plain grep of the tree for them finds only real mentions.
MACHINE_PATHS = [
    "/" + "work/",
    "/root/",
    "/home/",
    "/Users/",
    "." + "mirror/",
    ".." + "/shared",
    "/tmp/ior",
]

# First components of tree paths that mentions are checked for.
TREE_DIRS = ["docs", "src", "tests", "include", "scripts", "bench", "cmake", "ior"]

# Files this check does not read: itself (it must spell the strings out).
EXEMPT = {"tests/docs/check_tree.py"}

# Documents other branches are writing at the time of this commit. A mention
# of one of them is reported as a note, not an error, until it exists; then
# the entry is dead weight and can go.
PLANNED = {
    "docs/preload.md",
    "docs/fuse.md",
    "docs/jobs.md",
    "docs/semantics.md",
    "docs/security.md",
}

SKIP_PREFIXES = ("tests/fuzz/seeds/",)

PATH_CHAR = r"[A-Za-z0-9_.\-/*?\[\]{},<>$]"
URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s)>\"'`]*")
LINK_RE = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
TREE_RE = re.compile(
    r"(?<![A-Za-z0-9_./$\-:~@}])((?:%s)/%s*(?:#[A-Za-z0-9_\-]+)?)"
    % ("|".join(TREE_DIRS), PATH_CHAR)
)
MD_NAME_RE = re.compile(
    r"(?<![A-Za-z0-9_./$\-:~@}])([A-Za-z0-9_][A-Za-z0-9_.\-/]*[A-Za-z0-9_\-]\.md)\b(?![\w/])"
)
CODE_SPAN_RE = re.compile(r"`[^`]*`")
FENCE_RE = re.compile(r"^\s*(```|~~~)")
HEADING_RE = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ID_RE = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")


def list_files(root):
    """Relative paths of the files of the tree (existing ones only)."""
    files = None
    if os.path.isdir(os.path.join(root, ".git")) or os.path.isfile(os.path.join(root, ".git")):
        try:
            out = subprocess.run(
                ["git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                check=True,
                capture_output=True,
            ).stdout
            files = [f for f in out.decode("utf-8", "replace").split("\0") if f]
        except (OSError, subprocess.CalledProcessError):
            files = None
    if files is None:
        files = []
        for d, dirs, names in os.walk(root):
            rel = os.path.relpath(d, root)
            dirs[:] = [x for x in dirs if x != ".git" and not x.startswith("build")]
            for n in names:
                files.append(os.path.normpath(os.path.join(rel, n)))
    return sorted(f for f in set(files) if os.path.isfile(os.path.join(root, f)))


def ignored_by_git(root, paths):
    """The subset of paths that .gitignore covers (generated output), themselves or a parent."""
    if not paths or not os.path.exists(os.path.join(root, ".git")):
        return set()
    asked = set()
    for p in paths:
        parts = p.split("/")
        asked.add(p)
        asked.update("/".join(parts[:i]) + "/" for i in range(1, len(parts) + 1))
    try:
        res = subprocess.run(
            ["git", "-C", root, "check-ignore", "--no-index", "--stdin", "-z"],
            input="\0".join(sorted(asked)).encode(),
            capture_output=True,
        )
    except OSError:
        return set()
    hit = {p for p in res.stdout.decode("utf-8", "replace").split("\0") if p}
    out = set()
    for p in paths:
        parts = p.split("/")
        prefixes = ["/".join(parts[:i]) + "/" for i in range(1, len(parts) + 1)]
        if p in hit or any(x in hit for x in prefixes):
            out.add(p)
    return out


def slugify(text):
    """GitHub's anchor for a heading text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "").replace("*", "")
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def read_text(path):
    """The file's lines, or None for a binary file."""
    with open(path, "rb") as f:
        data = f.read()
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", "replace").split("\n")


class Tree:
    def __init__(self, root):
        self.root = root
        self.files = list_files(root)
        self.fileset = set(self.files)
        self.dirs = set()
        for f in self.files:
            d = os.path.dirname(f)
            while d:
                self.dirs.add(d)
                d = os.path.dirname(d)
        self.basenames = {os.path.basename(f) for f in self.files}
        self.anchor_cache = {}
        self.problems = []
        self.notes = []
        self.pending = []  # (file, line, path, what) to decide after check-ignore

    def exists(self, rel):
        rel = os.path.normpath(rel)
        return rel in self.fileset or rel in self.dirs or rel == "."

    def anchors(self, rel):
        """Heading slugs (with GitHub's -1, -2 suffixes) and HTML ids of a .md file."""
        if rel in self.anchor_cache:
            return self.anchor_cache[rel]
        found, seen = set(), {}
        lines = read_text(os.path.join(self.root, rel)) or []
        in_fence = False
        for line in lines:
            if FENCE_RE.match(line):
                in_fence = not in_fence
                continue
            if in_fence:
                continue
            for m in HTML_ID_RE.finditer(line):
                found.add(m.group(1))
            m = HEADING_RE.match(line)
            if not m:
                continue
            slug = slugify(m.group(2))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            found.add(slug if n == 0 else "%s-%d" % (slug, n))
        self.anchor_cache[rel] = found
        return found

    def report(self, rel, lineno, msg):
        self.problems.append("%s:%d: %s" % (rel, lineno, msg))

    def check_anchor(self, rel, lineno, target, frag, what):
        if frag and target.endswith(".md") and target in self.fileset:
            if frag not in self.anchors(target):
                self.report(rel, lineno, "%s: no heading '#%s' in %s" % (what, frag, target))

    def missing(self, rel, lineno, path, what):
        norm = os.path.normpath(path)
        if norm in PLANNED:
            self.notes.append("%s:%d: %s names %s, planned but not in the tree yet" % (rel, lineno, what, norm))
            return
        self.pending.append((rel, lineno, norm, what))

    def glob_exists(self, pattern):
        """Match a path with wildcards and placeholders against the tree."""
        rx, i = "", 0
        while i < len(pattern):
            c = pattern[i]
            if c == "*":
                rx += "[^/]*"
            elif c == "?":
                rx += "[^/]"
            elif c == "[":
                j = pattern.find("]", i)
                if j < 0:
                    return False
                rx += "[" + re.escape(pattern[i + 1 : j]).replace("\\-", "-") + "]"
                i = j
            elif c == "{":
                j = pattern.find("}", i)
                if j < 0:
                    return False
                rx += "(?:" + "|".join(re.escape(x) for x in pattern[i + 1 : j].split(",")) + ")"
                i = j
            elif c == "<":
                j = pattern.find(">", i)
                if j < 0:
                    return False
                rx += "[^/]+"
                i = j
            elif c == "$":
                m = re.match(r"\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)", pattern[i:])
                if not m:
                    return False
                rx += "[^/]+"
                i += len(m.group(0)) - 1
            else:
                rx += re.escape(c)
            i += 1
        r = re.compile(rx.rstrip("/") + "/?$")
        return any(r.match(p) for p in self.files) or any(r.match(p) for p in self.dirs)

    def check_path_token(self, rel, lineno, token, what):
        path, _, frag = token.partition("#")
        path = path.rstrip(".,;:")
        last = path.rstrip("/").rsplit("/", 1)[-1]
        # Only what is clearly a file (a name with an extension) or a directory
        # (a trailing '/'): "ior/mdtest" in prose is not a path.
        if not (path.endswith("/") or "." in last.lstrip(".")):
            return
        if re.search(r"[*?\[\]{}<>$]", path):
            if not self.glob_exists(path):
                self.missing(rel, lineno, path, what)
            return
        if not self.exists(path):
            self.missing(rel, lineno, path, what)
            return
        self.check_anchor(rel, lineno, os.path.normpath(path), frag, what)

    def check_file(self, rel):
        lines = read_text(os.path.join(self.root, rel))
        if lines is None:
            return
        is_md = rel.endswith(".md")
        in_fence = False
        for lineno, line in enumerate(lines, 1):
            if MARKER in line:
                continue
            if is_md and FENCE_RE.match(line):
                in_fence = not in_fence
            for s in MACHINE_PATHS:
                if s in line:
                    self.report(rel, lineno, "path of one machine ('%s'): use a placeholder such as <ior-src> or $BUILD" % s)
            text = URL_RE.sub(" ", line)
            if is_md and not in_fence:
                # `[text](target)` inside a code span is an example, not a link.
                for m in LINK_RE.finditer(CODE_SPAN_RE.sub(" ", line)):
                    target = m.group(1)
                    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", target):
                        continue  # https:, mailto:, ...
                    path, _, frag = target.partition("#")
                    if not path:
                        if frag not in self.anchors(rel):
                            self.report(rel, lineno, "link: no heading '#%s' in this file" % frag)
                        continue
                    if path.startswith("/"):
                        self.report(rel, lineno, "link to an absolute path '%s'" % path)
                        continue
                    full = os.path.normpath(os.path.join(os.path.dirname(rel), path))
                    if not self.exists(full):
                        self.missing(rel, lineno, full, "link")
                        continue
                    self.check_anchor(rel, lineno, full, frag, "link")
                text = LINK_RE.sub(" ", text)
            for m in TREE_RE.finditer(text):
                self.check_path_token(rel, lineno, m.group(1), "mention")
            for m in MD_NAME_RE.finditer(text):
                name = m.group(1)
                if name.split("/")[0] in TREE_DIRS:
                    continue  # checked above
                if "/" in name:
                    if not self.exists(name):
                        self.missing(rel, lineno, name, "mention")
                elif name[:-3] == name[:-3].upper() and name not in self.basenames:
                    # Capitals name a project document (README.md); lower case
                    # may be a generated file named in passing (summary.md).
                    self.missing(rel, lineno, name, "mention")

    def run(self):
        for rel in self.files:
            if rel in EXEMPT or rel.startswith(SKIP_PREFIXES):
                continue
            self.check_file(rel)
        ignored = ignored_by_git(self.root, sorted({p for _, _, p, _ in self.pending}))
        for rel, lineno, path, what in self.pending:
            if path not in ignored:
                self.report(rel, lineno, "%s of '%s', which is not in the tree" % (what, path))
        return self.problems


def check(root):
    tree = Tree(root)
    problems = tree.run()
    for n in tree.notes:
        print("note: " + n)
    for p in problems:
        print(p)
    if problems:
        print(
            "check_tree: %d problem(s); the rule is in docs/contributing.md#references-and-paths"
            % len(problems)
        )
        return 1
    print("check_tree: %d files clean" % len(tree.files))
    return 0


def self_test():
    """Plant one bad reference of each kind; each must be reported, nothing else."""
    good = {
        "docs/design.md": "# Design\n\n## Event loop\n\n```sh\n# not a heading\n```\n"
        "## Deviations from the plan, and why\n## Event loop\n",
        "docs/ok.md": "`[example](nothere.md)` [design](design.md#event-loop) [dev](design.md#deviations-from-the-plan-and-why)\n"
        "[second](design.md#event-loop-1) [self](#ok) [web](https://example.org/x.md)\n"
        "# OK\nsrc/a.c and src/*.c and tests/seeds/<target>/ and docs/design.md#event-loop\n"
        "Examples: /tmp/bfs/reg, /shared/registry, /dev/fuse, /proc/self/fd, $BUILD/bin.\n"
        "See README.md; ${CMAKE_SOURCE_DIR}/src/gone.c is a build path.\n"
        "Generated: bench/results/summary.md, bench/results/run-<UTC time>/, summary.md.\n"
        "Prose: ior/mdtest, tests/harness.\n",
        "src/a.c": "/* a.c - see docs/design.md#event-loop and docs/ok.md */\n",
        "tests/seeds/x/1": "\0binary",
        "README.md": "[ok](docs/ok.md)\n",
        ".gitignore": "/bench/results/\n",
    }
    bad = {
        "docs/bad_link.md": ("[x](nothere.md)\n", "docs/bad_link.md:1: link of 'docs/nothere.md'"),
        "docs/bad_anchor.md": ("[x](design.md#no-such-heading)\n", "docs/bad_anchor.md:1: link: no heading '#no-such-heading'"),
        "docs/bad_self.md": ("# Title\n[x](#nope)\n", "docs/bad_self.md:2: link: no heading '#nope'"),
        "docs/bad_machine.md": ("cmake -S /" + "work/main -B build\n", "docs/bad_machine.md:1: path of one machine ('/" + "work/')"),
        "docs/bad_mirror.md": ("\n\ngit --git-dir=x/." + "mirror/y\n", "docs/bad_mirror.md:3: path of one machine ('." + "mirror/')"),
        "docs/bad_ior.md": ("-DBENCHFS_IOR_DIR=/tmp/ior-src\n", "docs/bad_ior.md:1: path of one machine ('/tmp/ior')"),
        "src/bad_comment.c": ("/*\n * see DESIGN.md, section 3\n */\n", "src/bad_comment.c:2: mention of 'DESIGN.md'"),
        "src/bad_shared.c": ("/* shared/IOR_NOTES.md */\n", "src/bad_shared.c:1: mention of 'shared/IOR_NOTES.md'"),
        "src/bad_path.c": ("/* lives in src/gone.c */\n", "src/bad_path.c:1: mention of 'src/gone.c'"),
        "src/bad_anchor.c": ("/* docs/design.md#storage */\n", "src/bad_anchor.c:1: mention: no heading '#storage'"),
        "src/bad_glob.c": ("/* src/op_*.h */\n", "src/bad_glob.c:1: mention of 'src/op_*.h'"),
    }
    scratch = tempfile.mkdtemp(prefix="check_tree.")
    failures = []
    try:
        root = os.path.join(scratch, "tree")

        def write(files):
            for rel, text in files.items():
                path = os.path.join(root, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as f:
                    f.write(text)

        write(good)
        # A git checkout, so that .gitignore and new-file listing work as in a clone.
        subprocess.run(["git", "init", "-q", root], check=True, capture_output=True)
        tree = Tree(root)
        got = tree.run()
        if got:
            failures.append("clean fixture reported problems:\n  " + "\n  ".join(got))
        write({rel: text for rel, (text, _) in bad.items()})
        tree = Tree(root)
        got = tree.run()
        for rel, (_, want) in bad.items():
            hits = [p for p in got if p.startswith(want)]
            if len(hits) != 1:
                failures.append("planted %s: expected one report starting with %r, got %r" % (rel, want, hits))
        if len(got) != len(bad):
            failures.append("expected %d reports, got %d:\n  %s" % (len(bad), len(got), "\n  ".join(got)))
        if check(root) != 1:
            failures.append("check() did not fail on the planted tree")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for f in failures:
        print("SELF-TEST FAILED: " + f)
    if failures:
        return 1
    print("check_tree self-test: %d planted problems reported, clean fixture clean" % len(bad))
    return 0


def main(argv):
    if len(argv) > 2:
        print(__doc__.split("\n\n")[-2], file=sys.stderr)
        return 2
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    if len(argv) == 2 and argv[1].startswith("-"):
        print("usage: check_tree.py [ROOT] | --self-test", file=sys.stderr)
        return 2
    root = argv[1] if len(argv) == 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    return check(os.path.abspath(root))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
