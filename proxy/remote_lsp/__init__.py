"""remote-lsp: long-lived, shareable language servers (host-side package).

Everything under this package that runs on the host is Python 3.8+ standard
library only; it is shipped to remote hosts as a zipapp.
"""

__version__ = "0.1.0"
