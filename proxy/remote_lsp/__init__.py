"""remote-lsp: long-lived, shareable language servers.

The package is split by side. `wire/` is what both sides share, `host/` runs
on the machine with the code (and is shipped there), `editor/` runs next to
the editor and is never shipped. Host code never imports editor code.
"""

__version__ = "0.2.0"
