"""The README's quick start runs as written against the real server."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from .support import Tessera

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quick_start_runs(
    tessera: Tessera, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    section = README.read_text().split("## Quick start", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "the README has a quick start"
    code = match.group(1)
    assert len(code.strip().splitlines()) <= 17, "a quick start stays short"
    # As run against scripts/dev.sh: the dev server's address and data dir, nothing else.
    monkeypatch.setitem(os.environ, "TESSERA_ADDR", f"http://{tessera.addr}")
    monkeypatch.setitem(os.environ, "TESSERA_DATA_DIR", str(tessera.data_dir))
    exec(compile(code, str(README), "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "refused: INVALID_CREDENTIALS"
    assert printed[1] == "deploy."
    assert printed[2] == "('deploy.daily',)"
    assert "'admin'" in printed[3] and "'alice'" in printed[3]
