"""Which files a search sees: ripgrep's rules, so that a find or a grep here
lists what `rg --files` lists in the same tree.

- `.rgignore`, `.ignore` and `.gitignore` in each directory (and in the
  directories above the searched root), `.git/info/exclude` and the global
  `~/.config/git/ignore`; the git ones only inside a git work tree, and not
  above its top. Kinds are ranked (.rgignore over .ignore over .gitignore
  over exclude over global); within a kind the deepest file with a matching
  pattern decides, and within a file its last matching pattern.
- A pattern in gitignore form (`!` re-includes, a trailing `/` is for
  directories, a `/` elsewhere anchors it to its file's directory, `**`);
  braces `{a,b}` too, as ripgrep's glob library has them.
- A name starting with `.` is hidden, unless a rule re-includes it.
- Globs given with a search (`-g`) come first: a glob that matches includes
  (`!glob` excludes) whatever the rules above say; with any including glob,
  a file that none matches is left out.
"""

import os
import re
from typing import Collection, Dict, List, Optional, Sequence, Tuple

from remote_lsp.host.files.disk import is_temporary  # a save's temporary file: never listed

KINDS = (".rgignore", ".ignore", ".gitignore")
IGNORE_FILES = frozenset(KINDS)
RULE_NAMES = IGNORE_FILES | {".git"}  # the names in a directory that make its rules
_RG, _IGNORE, _GIT, _EXCLUDE = 0, 1, 2, 3
IGNORE, WHITELIST = 1, 2




# --- patterns -----------------------------------------------------------------------------


def _glob_regex(glob: str) -> str:
    """A gitignore glob (no leading `!`, no trailing `/`) as a regex over a
    path relative to its file's directory."""
    anchored = "/" in glob
    if glob.startswith("/"):
        glob = glob[1:]
    if glob.startswith("**/"):
        anchored = False
        glob = glob[3:]
    body = _translate(glob)
    return body if anchored else "(?:.*/)?" + body


def _translate(glob: str) -> str:
    out: List[str] = []
    i, n, depth = 0, len(glob), 0
    while i < n:
        c = glob[i]
        if c == "*":
            j = i
            while j < n and glob[j] == "*":
                j += 1
            stars = j - i
            whole = (i == 0 or glob[i - 1] == "/") and (j == n or glob[j] == "/")
            if stars >= 2 and whole:
                if j == n:
                    out.append(".*")  # `dir/**`: everything inside
                    i = j
                    continue
                out.append("(?:.*/)?")  # `**/`: any number of directories
                i = j + 1
                continue
            out.append("[^/]*")
            i = j
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = i + 1
            if j < n and glob[j] in "!^":
                j += 1
            if j < n and glob[j] == "]":
                j += 1
            while j < n and glob[j] != "]":
                j += 1
            if j >= n:
                out.append("\\[")
                i += 1
                continue
            inner = glob[i + 1:j]
            negate = inner[:1] in ("!", "^")
            if negate:
                inner = inner[1:]
            inner = inner.replace("\\", "\\\\")
            out.append("[^/%s]" % inner if negate else "[%s]" % inner)
            i = j + 1
        elif c == "{":
            depth += 1
            out.append("(?:")
            i += 1
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
            i += 1
        elif c == "," and depth:
            out.append("|")
            i += 1
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    out.extend(")" * depth)
    return "".join(out)


class Patterns:
    """One file's patterns (or a search's globs): the last that matches decides.
    All of them in one regex of alternatives, last first, so one match says
    which (its group's number); directory-only patterns in the second one."""

    __slots__ = ("_dirs", "_dirs_whitelist", "_files", "_files_whitelist", "whitelists")

    def __init__(self, lines: Sequence[str]) -> None:
        file_parts: List[Tuple[str, bool]] = []
        dir_parts: List[Tuple[str, bool]] = []
        self.whitelists = 0
        for raw in lines:
            parsed = _parse(raw)
            if parsed is None:
                continue
            regex, negate, dir_only = parsed
            self.whitelists += negate
            dir_parts.append((regex, negate))
            if not dir_only:
                file_parts.append((regex, negate))
        self._files, self._files_whitelist = _combine(file_parts)
        self._dirs, self._dirs_whitelist = _combine(dir_parts)

    def __bool__(self) -> bool:
        return self._dirs is not None

    def match(self, path: str, is_dir: bool) -> int:
        """0 (no pattern matches), IGNORE, or WHITELIST (a `!` pattern)."""
        if is_dir:
            regex, whitelist = self._dirs, self._dirs_whitelist
        else:
            regex, whitelist = self._files, self._files_whitelist
        if regex is None:
            return 0
        m = regex.match(path)
        if m is None:
            return 0
        return WHITELIST if whitelist[m.lastindex or 0] else IGNORE


def _parse(raw: str) -> Optional[Tuple[str, bool, bool]]:
    line = raw.rstrip("\n").rstrip("\r")
    if not line or line.startswith("#"):
        return None
    # Trailing spaces go, unless escaped.
    stripped = line.rstrip(" ")
    if stripped != line and stripped.endswith("\\"):
        stripped += " "
    line = stripped
    negate = line.startswith("!")
    if negate:
        line = line[1:]
    elif line.startswith(("\\!", "\\#")):
        line = line[1:]
    dir_only = line.endswith("/") and not line.endswith("\\/")
    if dir_only:
        line = line.rstrip("/")
    if not line:
        return None
    return _glob_regex(line), negate, dir_only


def _combine(parts: List[Tuple[str, bool]]) -> Tuple[Optional["re.Pattern[str]"], List[bool]]:
    if not parts:
        return None, []
    whitelist = [False]
    alternatives = []
    for regex, negate in reversed(parts):
        alternatives.append("(%s)" % regex)
        whitelist.append(negate)
    try:
        return re.compile("(?s:%s)\\Z" % "|".join(alternatives)), whitelist
    except re.error:  # one bad pattern: the others each on their own, the bad ones dropped
        good = [(r, n) for r, n in parts if _compiles(r)]
        return _combine(good) if len(good) < len(parts) else (None, [])


def _compiles(regex: str) -> bool:
    try:
        re.compile(regex)
        return True
    except re.error:
        return False


def read_patterns(path: str) -> Optional[Patterns]:
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except OSError:
        return None
    patterns = Patterns(data.decode("utf-8", "surrogateescape").splitlines())
    return patterns if patterns else None


def global_patterns() -> Optional[Patterns]:
    """git's global excludes at their default place (core.excludesFile is not read)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return read_patterns(os.path.join(base, "git", "ignore"))


# --- a directory's rules ------------------------------------------------------------------


class Level:
    """The rules in force in one directory: its own ignore files and, through
    `parent`, those above it. Directories with no ignore file of their own
    share their parent's lists, so a large tree costs little."""

    __slots__ = ("any_git", "git", "others", "path", "prefix")

    def __init__(self, path: str, parent: Optional["Level"], use_ignores: bool,
                 present: Optional[Collection[str]] = None) -> None:
        """`present`: which of RULE_NAMES the directory has, when its listing says (else looked up)."""
        self.path = path
        self.prefix = len(path.rstrip("/")) + 1
        own: Dict[int, Patterns] = {}
        has_git = False
        if use_ignores:
            if present is None:
                present = [name for name in RULE_NAMES if os.path.lexists(os.path.join(path, name))]
            for kind, name in enumerate(KINDS):
                found = read_patterns(os.path.join(path, name)) if name in present else None
                if found is not None:
                    own[kind] = found
            has_git = ".git" in present
            if has_git:
                found = read_patterns(os.path.join(path, ".git", "info", "exclude"))
                if found is not None:
                    own[_EXCLUDE] = found
        # (level path prefix length, patterns) from this directory up, per kind group.
        above_git = parent.git if parent is not None else ()
        above_others = parent.others if parent is not None else ()
        self.any_git = has_git or (parent is not None and parent.any_git)
        if has_git:  # git's rules stop at the top of its work tree
            self.git: Tuple[Tuple[int, int, Patterns], ...] = tuple(
                (self.prefix, k, own[k]) for k in (_GIT, _EXCLUDE) if k in own)
        else:
            self.git = tuple((self.prefix, k, own[k]) for k in (_GIT,) if k in own) + above_git
        self.others: Tuple[Tuple[int, int, Patterns], ...] = tuple(
            (self.prefix, k, own[k]) for k in (_RG, _IGNORE) if k in own) + above_others


class Rules:
    """What one search sees: whether hidden and ignored files are in, its globs."""

    def __init__(self, hidden: bool = False, ignored: bool = False, globs: Sequence[str] = ()) -> None:
        self.hidden = hidden
        self.ignored = ignored
        lines = []
        for glob in globs:  # a glob includes, `!glob` excludes: the reverse of an ignore file
            lines.append(glob[1:] if glob.startswith("!") else "!" + glob)
        self.overrides = Patterns(lines) if lines else None
        self.global_ = None if ignored else global_patterns()

    def top(self, root: str) -> Level:
        """The root's level, with the rules of the directories above it."""
        chain = []
        path = os.path.dirname(root.rstrip("/")) or "/"
        while True:
            chain.append(path)
            if path == "/":
                break
            path = os.path.dirname(path)
        level: Optional[Level] = None
        for path in reversed(chain):
            level = Level(path, level, not self.ignored)
        return Level(root, level, not self.ignored)

    def child(self, parent: Level, path: str, present: Optional[Collection[str]] = None) -> Level:
        return Level(path, parent, not self.ignored, present)

    def excluded(self, level: Level, path: str, name: str, is_dir: bool, root_prefix: int) -> bool:
        """Is the entry `name` of `level`'s directory (full path `path`) left out?"""
        if self.overrides is not None:
            decided = self.overrides.match(path[root_prefix:], is_dir)
            if decided:
                return decided == IGNORE
            if self.overrides.whitelists and not is_dir:
                return True
        if not is_dir and is_temporary(name):
            return True
        decided = 0
        if not self.ignored:
            decided = _decide(level.others, path, is_dir, (_RG, _IGNORE))
            if not decided and level.any_git:
                decided = _decide(level.git, path, is_dir, (_GIT, _EXCLUDE))
                if not decided and self.global_ is not None:
                    decided = self.global_.match(path[root_prefix:], is_dir)
        if decided:
            return decided == IGNORE
        return not self.hidden and name.startswith(".")


_Levels = Tuple[Tuple[int, int, Patterns], ...]


def _decide(levels: _Levels, path: str, is_dir: bool, kinds: Tuple[int, int]) -> int:
    """Kinds ranked, and within a kind the deepest match decides."""
    if not levels:
        return 0
    for kind in kinds:
        for prefix, k, patterns in levels:
            if k != kind:
                continue
            found = patterns.match(path[prefix:], is_dir)
            if found:
                return found
    return 0
