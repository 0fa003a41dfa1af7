"""The Python examples in the READMEs run as written, from the repository's root."""

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


@pytest.mark.parametrize("readme", ["README.md", "python/README.md"])
def test_every_python_example_in_the_readme_runs(readme, monkeypatch, capsys):
    blocks = python_blocks(ROOT / readme)
    assert blocks, f"{readme} has Python examples"
    monkeypatch.chdir(ROOT)
    for block in blocks:
        exec(compile(block, readme, "exec"), {})
    printed = capsys.readouterr().out
    committed = int(re.search(r"(\d+) proposals committed", printed).group(1))
    assert committed > 0, printed
