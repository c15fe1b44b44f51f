"""The README's walk-through executed as written, against a real ``smsledger serve``
with zero configuration.

Every ``sh`` block of the section between the walkthrough markers, after the first
(which starts the service), runs in order in one bash
script with ``set -euo pipefail``; only the address and the operator token, which the
reader copies from the service's output, are filled in.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.serving import clean_env, serve

pytestmark = pytest.mark.slow

DOC = Path(__file__).resolve().parents[2] / "README.md"
SECTION = re.compile(r"<!-- walkthrough:start -->(.*?)<!-- walkthrough:end -->", re.DOTALL)
BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)


def script_of(doc: str, url: str, token: str) -> str:
    section = SECTION.search(doc)
    assert section is not None, "README has lost its walkthrough markers"
    blocks = BLOCK.findall(section.group(1))
    assert len(blocks) > 5
    assert "serve" in blocks[0] or "make run" in blocks[0]
    body = "\n".join(blocks[1:])
    assert "export OP=sk_operator_..." in body
    body = body.replace("export OP=sk_operator_...", f"export OP={token}")
    assert "API=http://127.0.0.1:8000" in body
    body = body.replace("API=http://127.0.0.1:8000", f"API={url}")
    return "set -euo pipefail\n" + body


@pytest.mark.skipif(shutil.which("curl") is None, reason="the walk-through uses curl")
def test_the_walkthrough_works_as_written(tmp_path: Path) -> None:
    with serve(tmp_path, clean_env()) as served:
        token = served.printed_token
        assert token is not None
        script = script_of(DOC.read_text(), served.url, token)
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert '"InvalidRecipient"' in out
    assert '"status":"open"' in out
    assert '"kind":"sms"' in out
    # Step 7: the STOP canceled the scheduled message and blocked its recipient.
    assert '"action":"opt_out"' in out
    assert '"name":"Canceled"' in out
    assert '"source":"stop"' in out
    assert '"DeliveredToHandset"' in out or '"DeliveredToGateway"' in out
