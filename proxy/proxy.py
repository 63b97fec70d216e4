#!/usr/bin/env python3
"""The executable Neovim runs as an LSP `cmd`: the same program as `remote-lsp`."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from remote_lsp.cli import main

if __name__ == "__main__":
    sys.exit(main())
