#!/usr/bin/env python3
"""The floor of any relay written in Python: a selector loop copying bytes
between its stdio and a child (the server), os.read and os.write, nothing
else. The local benchmark compares the agent's added latency with this one's."""

import os
import selectors
import subprocess
import sys


def main() -> int:
    child = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    routes = {0: child.stdin.fileno(), child.stdout.fileno(): 1}
    sel = selectors.DefaultSelector()
    for fd in routes:
        sel.register(fd, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            data = os.read(key.fd, 1 << 20)
            if not data:
                return 0
            view = memoryview(data)
            while view:
                view = view[os.write(routes[key.fd], view):]


if __name__ == "__main__":
    sys.exit(main())
