"""A language server that reads stdin in a worker thread, not the main one.

The main thread only waits; the worker answers every request with
{"thread": <its name>}. Attaching must redirect the worker's blocked read.
"""

import json
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proxy"))

from remote_lsp.wire.framing import FrameParser, encode


def serve() -> None:
    parser = FrameParser(strict=False)
    while True:
        data = os.read(0, 65536)
        if not data:
            os._exit(0)
        for body in parser.feed(data):
            msg = json.loads(body)
            if "id" in msg and "method" in msg:
                result = {"thread": threading.current_thread().name, "method": msg["method"]}
                if msg["method"] == "initialize":
                    result = {"capabilities": {"hoverProvider": True}}
                out = encode(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}).encode())
                os.write(1, out)
            elif msg.get("method") == "exit":
                os._exit(0)


threading.Thread(target=serve, name="reader", daemon=True).start()
threading.Event().wait()
