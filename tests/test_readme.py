"""The README's Python example runs as written (on the canonical MNIST test set)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_own_model_example_runs(data_dir, monkeypatch, capsys):
    monkeypatch.setenv("BITROBUST_DATA", str(data_dir))
    section = README.read_text().split("## Python: your own model", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
    err, rerr, std = map(float, capsys.readouterr().out.split())
    assert 0.5 < err <= 1 and 0 <= std and 0.5 < rerr <= 1  # an untrained model: chance-level error


def test_readme_harden_your_own_model_example_runs(data_dir, monkeypatch, capsys):
    monkeypatch.setenv("BITROBUST_DATA", str(data_dir))
    section = README.read_text().split("### Harden your own model", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) < 15
    exec(compile(code, "README.md", "exec"), {})
    err, rerr = map(float, capsys.readouterr().out.split())
    assert 0 < err < 0.2 and 0 < rerr < 0.3  # one epoch of RandBET (shuffled unseeded): a trained linear model
