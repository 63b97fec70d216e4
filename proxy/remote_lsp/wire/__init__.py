"""What both sides share: LSP framing, JSON-RPC helpers, fd channels, the
agent's control protocol, errors with their exit codes, the state directory.

Standard library only, Python 3.8+: shipped to hosts with `host/`.
"""
