"""Files whose bytes every read and write must keep: line endings, no final newline,
another encoding, binary."""

SAMPLES = {
    "crlf.txt": b"one\r\ntwo\r\n",
    "no-final-newline.py": b"x = 1\ny = 2",
    "latin1.txt": "caf\u00e9 cr\u00e8me\n".encode("latin-1"),
    "binary.bin": bytes(range(256)) * 4,
}
