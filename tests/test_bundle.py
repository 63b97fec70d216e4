"""The host-side zipapp: complete, standard library only, no editor-side code."""

import subprocess
import sys
import zipfile
from io import BytesIO

from remote_lsp import bundle


def test_zipapp_installs_and_imports_every_host_module(tmp_path):
    digest, data = bundle.build()
    assert digest == bundle.digest()
    names = zipfile.ZipFile(BytesIO(data[data.index(b"PK"):])).namelist()
    assert not [n for n in names if "transport" in n or n.endswith(("bridge.py", "uri.py"))]
    pyz = tmp_path / ("remote-lsp-%s.pyz" % digest)
    pyz.write_bytes(data)
    subprocess.run([sys.executable, "-S", str(pyz), "--install"], check=True)
    modules = [n[:-3].replace("/", ".").replace(".__init__", "")
               for n in names if n.startswith("remote_lsp/")]
    # -S -I: no site-packages, nothing from this checkout: only what was shipped.
    code = "import sys; sys.path.insert(0, %r)\nfor m in %r: __import__(m)" % (
        str(tmp_path / ("remote-lsp-%s" % digest)), modules)
    subprocess.run([sys.executable, "-S", "-I", "-c", code], check=True, cwd=str(tmp_path))
    out = subprocess.run([sys.executable, "-S", str(tmp_path / ("remote-lsp-%s" % digest)), "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.startswith("remote-lsp ")
