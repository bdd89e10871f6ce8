"""smartops.data stands alone: no compiled extension, no smartops.ops/nn."""
import subprocess
import sys
from pathlib import Path


def test_data_does_not_import_extension_or_ops():
    code = ("import sys, smartops.data; "
            "bad = [m for m in sys.modules if m in ('smartops._C', 'smartops.ops', 'smartops.nn', "
            "'smartops.models') or m.startswith(('smartops.ops.', 'smartops.nn.', 'smartops._C'))]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
