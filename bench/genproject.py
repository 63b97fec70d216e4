"""Synthetic projects for the benchmarks: generated, never downloaded.

Python: PACKAGES packages of MODULES modules, each module importing its
predecessor (in runs of CHAIN), so answering about one symbol means reading others. C: the same
shape in .c/.h pairs with a compile_commands.json, for clangd, and main.c
seeing them all through an umbrella header.

Every symbol name carries its file's number, so a query for the last file's
symbol (`LAST_PY_SYMBOL`, `LAST_C_SYMBOL`) is found in exactly one place.
"""

import json
from pathlib import Path

PACKAGES = 20
MODULES = 100  # per package: 2,000 Python files
CHAIN = 10  # each module imports its predecessor, in runs of this many


def py_symbol(n: int) -> str:
    return "Gadget%04d" % n


def c_symbol(n: int) -> str:
    return "gadget_%04d" % n


def python_project(root: Path, files: int = PACKAGES * MODULES) -> Path:
    """`files` modules under pkgNN/, plus main.py using the last one."""
    root.mkdir(parents=True, exist_ok=True)
    per = max(1, files // PACKAGES)
    for n in range(files):
        pkg = root / ("pkg%02d" % (n // per))
        if not pkg.exists():
            pkg.mkdir()
            (pkg / "__init__.py").write_text("")
        prev = ""
        if n % CHAIN:  # import chains stay short enough for Python to run them
            prev = "from pkg%02d.mod%04d import %s, make%04d\n\n\n" % (
                (n - 1) // per, n - 1, py_symbol(n - 1), n - 1)
        (pkg / ("mod%04d.py" % n)).write_text(_python_module(n, prev))
    last = files - 1
    (root / "main.py").write_text(
        "from pkg%02d.mod%04d import %s\n\nthing = %s(1)\nprint(thing.total())\n"
        % (last // per, last, py_symbol(last), py_symbol(last)))
    return root


def _python_module(n: int, prev: str) -> str:
    previous = ("\n    def previous(self) -> %s:\n        return make%04d(self.size)\n"
                % (py_symbol(n - 1), n - 1)) if n % CHAIN else ""
    return prev + '''from dataclasses import dataclass
from typing import Dict, List, Optional


@dataclass
class Part{n:04d}:
    """A part of gadget {n}."""

    name: str
    weight: float
    tags: List[str]


class {sym}:
    """Gadget number {n}: holds parts and adds them up."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.parts: Dict[str, Part{n:04d}] = {{}}

    def add(self, name: str, weight: float) -> Part{n:04d}:
        part = Part{n:04d}(name, weight, [name.upper()])
        self.parts[name] = part
        return part

    def find(self, name: str) -> Optional[Part{n:04d}]:
        return self.parts.get(name)

    def total(self) -> float:
        return sum(p.weight for p in self.parts.values()) * self.size
{previous}

def make{n:04d}(size: int = 3) -> {sym}:
    gadget = {sym}(size)
    for i in range(size):
        gadget.add("part%d" % i, i * 1.5)
    return gadget


def heaviest{n:04d}(gadgets: List[{sym}]) -> Optional[{sym}]:
    return max(gadgets, key=lambda g: g.total(), default=None)
'''.format(n=n, sym=py_symbol(n), previous=previous)


def c_project(root: Path, files: int = 1000) -> Path:
    """`files` .c/.h pairs, each calling its predecessor, and compile_commands.json."""
    src = root / "src"
    src.mkdir(parents=True, exist_ok=True)
    commands = []
    for n in range(files):
        (src / ("unit%04d.h" % n)).write_text(_c_header(n))
        (src / ("unit%04d.c" % n)).write_text(_c_source(n))
        commands.append({"directory": str(root), "file": str(src / ("unit%04d.c" % n)),
                         "arguments": ["cc", "-std=c11", "-Wall", "-Isrc", "-c",
                                       str(src / ("unit%04d.c" % n))]})
    # An umbrella header over every unit, as C projects often have: main.c's
    # translation unit is then the size of a real one, not of a toy.
    (src / "project.h").write_text("".join('#include "unit%04d.h"\n' % n for n in range(files)))
    (src / "main.c").write_text('#include <stdio.h>\n#include "project.h"\n\nint main(void) {\n'
                                '    printf("%%ld\\n", %s(3));\n    return 0;\n}\n'
                                % c_symbol(files - 1))
    commands.append({"directory": str(root), "file": str(src / "main.c"),
                     "arguments": ["cc", "-std=c11", "-Isrc", "-c", str(src / "main.c")]})
    (root / "compile_commands.json").write_text(json.dumps(commands, indent=1))
    return root


def _c_header(n: int) -> str:
    return f'''#ifndef UNIT{n:04d}_H
#define UNIT{n:04d}_H
#include <stddef.h>

struct part_{n:04d} {{
    const char *name;
    double weight;
    struct part_{n:04d} *next;
}};

long {c_symbol(n)}(long size);
double weigh_{n:04d}(const struct part_{n:04d} *parts, size_t count);
#endif
'''


def _c_source(n: int) -> str:
    prev = '#include "unit%04d.h"\n' % (n - 1) if n else ""
    call = "%s(size - 1)" % c_symbol(n - 1) if n else "size"
    return f'''#include <stdlib.h>
#include <string.h>
#include "unit{n:04d}.h"
{prev}
double weigh_{n:04d}(const struct part_{n:04d} *parts, size_t count) {{
    double total = 0;
    for (size_t i = 0; i < count; i++)
        total += parts[i].weight;
    return total;
}}

long {c_symbol(n)}(long size) {{
    struct part_{n:04d} *parts = calloc((size_t)size + 1, sizeof *parts);
    if (!parts)
        return -1;
    for (long i = 0; i < size; i++) {{
        parts[i].name = "part";
        parts[i].weight = (double)i * 1.5;
    }}
    long out = (long)weigh_{n:04d}(parts, (size_t)size) + (size > 0 ? {call} : 0);
    free(parts);
    return out;
}}
'''


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "generated")
    python_project(target / "py")
    c_project(target / "c")
    print("generated %s/py (%d Python files) and %s/c" % (target, PACKAGES * MODULES, target))
