"""`python -m remote_lsp` and the zipapp entry point."""

import sys

from remote_lsp.cli import main

if __name__ == "__main__":
    sys.exit(main())
