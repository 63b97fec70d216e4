"""ARCHITECTURE.md stays a true map: it names every module of the product, every
path it names is there, every test it cites exists, and the sides it draws
(wire / host / editor) import as it says."""

import ast
import os
import re
from pathlib import Path
from typing import Dict, List, Set, Tuple

from tests.conftest import REPO

DOC = REPO / "ARCHITECTURE.md"
SKIP_DIRS = {".git", ".venv", "__pycache__", "node_modules", ".pytest_cache", ".ruff_cache", "build"}
CHECKED_EXT = (".py", ".lua", ".md", ".txt", ".toml", ".sh", ".svg", ".vim")
URI = re.compile(r"[a-z][\w+-]*://\S*")
TOKEN = re.compile(r"[\w.$~*/-]+")
BASE = re.compile(r"^###\s+`([\w./-]+/)`", re.M)


def _tree() -> Tuple[Set[str], Set[str]]:
    """Every file and directory of the checkout, as paths relative to it."""
    files: Set[str] = set()
    dirs: Set[str] = set()
    for root, names, filenames in os.walk(REPO):
        names[:] = [n for n in names if n not in SKIP_DIRS and not n.endswith(".egg-info")]
        rel = os.path.relpath(root, REPO)
        if rel != ".":
            dirs.add(rel)
        files.update(os.path.normpath(os.path.join(rel, f)) for f in filenames)
    return files, dirs


def product_modules() -> List[str]:
    """What ships: the Python package and entry points, the Neovim plugin."""
    out = []
    for folder, ext in (("proxy", ".py"), ("lua", ".lua"), ("plugin", ".lua"), ("rplugin", ".py")):
        out += [p.relative_to(REPO).as_posix() for p in (REPO / folder).rglob("*" + ext)
                if "__pycache__" not in p.parts]
    return sorted(out)


def sections(text: str) -> List[Tuple[str, str]]:
    """(base folder or "", text) per `###` section (and the part before the first);
    a section whose heading is a folder in backticks names its files relative to it."""
    out = []
    starts = [m.start() for m in re.finditer(r"^#{2,3} ", text, re.M)] + [len(text)]
    out.append(("", text[:starts[0]]))
    for a, b in zip(starts, starts[1:]):
        chunk = text[a:b]
        m = BASE.match(chunk)
        out.append((m.group(1) if m else "", chunk))
    return out


def tokens(chunk: str) -> List[str]:
    return [t.rstrip(".") for t in TOKEN.findall(URI.sub(" ", chunk))]


def _is_path(token: str, dirs: Set[str]) -> bool:
    """A name of something in the checkout (not a state file, a URI, an LSP method)."""
    if token.startswith(("$", "~", "/")) or "*" in token:
        return False
    if token.endswith(CHECKED_EXT):
        return True
    if "/" not in token:
        return False
    first, _, rest = token.partition("/")
    if first in dirs:
        return True
    # A folder below the top named by its last part (`attach/`), or a file in it; a method of the
    # file channel's protocol (`files/read`) has the shape of a path, but no folder's or file's.
    return (not rest or "." in rest) and any(d.endswith("/" + first) for d in dirs)


def _exists(token: str, base: str, files: Set[str], dirs: Set[str]) -> bool:
    path = os.path.normpath(token)
    here = files | dirs
    if path in here:
        return True
    if base:  # a code map entry: under its folder (or a folder above it: a side names the others)
        folder = Path(base)
        return any(os.path.normpath(str(f / token)) in here for f in [folder, *folder.parents][:-1])
    return any(p.endswith("/" + path) for p in here)


def named_paths() -> Tuple[Dict[str, str], Set[str]]:
    """Every path-like token with the base folder it was read under; and the
    repo paths the document names (full, or relative to a section's folder)."""
    _, dirs = _tree()
    seen: Dict[str, str] = {}
    named: Set[str] = set()
    for base, chunk in sections(DOC.read_text()):
        for token in tokens(chunk):
            if not _is_path(token, dirs):
                continue
            seen.setdefault(token if not base else base + "|" + token, base)
            named.add(os.path.normpath(token))
            if base:
                named.add(os.path.normpath(base + token))
    return seen, named


def test_every_module_of_the_product_is_named():
    _, named = named_paths()
    missing = [m for m in product_modules() if m not in named]
    assert not missing, "ARCHITECTURE.md does not name: %s" % ", ".join(missing)


def test_every_path_it_names_is_there():
    files, dirs = _tree()
    seen, _ = named_paths()
    gone = sorted(key.split("|")[-1] + (" (under %s)" % base if base else "")
                  for key, base in seen.items() if not _exists(key.split("|")[-1], base, files, dirs))
    assert not gone, "ARCHITECTURE.md names paths that are not there: %s" % ", ".join(gone)


def test_every_test_it_cites_exists():
    defined = set()
    for path in (REPO / "tests").glob("test_*.py"):
        defined.update(re.findall(r"^\s*(?:async )?def (test_\w+)", path.read_text(), re.M))
    # A name ending in `_` is a prefix the document states as a convention (`test_N_*`).
    cited = {name for name in re.findall(r"\b(test_\w+)\b(?!\.py)", DOC.read_text())
             if not name.endswith("_")}
    assert cited, "ARCHITECTURE.md cites the tests that prove its contracts"
    assert not sorted(cited - defined), "cited tests that do not exist: %s" % sorted(cited - defined)


def test_every_point_of_the_sharing_contract_has_its_tests():
    """Point N is proved by `test_N_*` in the in-process contract tests, or names its test."""
    text = DOC.read_text()
    contract = text[text.index("### The sharing contract"):]
    contract = contract[:contract.index("\n### ")]
    points = re.findall(r"^(\d+)\. (.*?)(?=^\d+\. |^\S|\Z)", contract, re.M | re.S)
    assert [int(n) for n, _ in points] == list(range(1, 18)), "the sharing contract's points 1 to 17"
    in_process = (REPO / "tests" / "test_mux_contract.py").read_text()
    untested = [n for n, body in points if not re.search(r"^def test_%s_" % n, in_process, re.M)
                and not re.search(r"\btest_\w+", body)]
    assert not untested, "points with no test_N_* and no test named: %s" % untested


def _imports(path: Path) -> Set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
            out.update("%s.%s" % (node.module, a.name) for a in node.names)
    return out


def test_the_sides_import_as_drawn():
    """wire imports neither side; host and editor never import each other."""
    package = REPO / "proxy" / "remote_lsp"
    forbidden = {"wire": ("remote_lsp.host", "remote_lsp.editor"), "host": ("remote_lsp.editor",),
                 "editor": ("remote_lsp.host",)}
    wrong = []
    for side, others in forbidden.items():
        for path in sorted((package / side).rglob("*.py")):
            bad = [m for m in _imports(path) if m.startswith(others)]
            wrong += ["%s imports %s" % (path.relative_to(REPO), m) for m in sorted(bad)]
    assert not wrong, wrong


IO_MODULES = ("asyncio", "socket", "subprocess", "select", "selectors", "remote_lsp.wire.fdio",
              "remote_lsp.host.session", "remote_lsp.host.sharing.instance")
IO_CALLS = {"open", "print", "os.read", "os.write", "os.open", "os.close", "os.kill"}


def test_only_the_lending_changes_a_loan():
    """Which text the server computes on, and the diagnostics per text, have one owner
    (sharing/lending.py): elsewhere a document's loan is only asked, through its methods."""
    from remote_lsp.host.sharing.lending import Loan

    methods = {name for name, v in vars(Loan).items() if callable(v) and not name.startswith("_")}
    wrong = []
    for path in sorted((REPO / "proxy" / "remote_lsp").rglob("*.py")):
        if path.name == "lending.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
                    and node.value.attr == "loan" and node.attr not in methods:
                wrong.append("%s:%d uses loan.%s" % (path.relative_to(REPO), node.lineno, node.attr))
    assert methods and not wrong, wrong


def test_the_mux_does_no_io():
    """The mux and what it holds (documents, lending, shapes, adapt) route; the instance and
    sessions do the I/O. So the sharing contract can be tested in process, exactly."""
    wrong = []
    for name in ("mux", "documents", "lending", "shapes", "adapt"):
        path = REPO / "proxy" / "remote_lsp" / "host" / "sharing" / ("%s.py" % name)
        wrong += ["%s imports %s" % (name, m) for m in sorted(_imports(path)) if m.startswith(IO_MODULES)]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                f = node.func
                called = (f.id if isinstance(f, ast.Name) else
                          "%s.%s" % (f.value.id, f.attr)
                          if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else "")
                if called in IO_CALLS:
                    wrong.append("%s calls %s (line %d)" % (name, called, node.lineno))
    assert not wrong, wrong
