"""The ``>>>`` examples of every module under ``src/bitrobust``, run with the stdlib doctest module.

Public functions and classes carry a short runnable example (DESIGN.md, "House style");
this runs them all, one test per module, so a broken example fails CI like a broken test.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

#: Modules not run, with the reason.
SKIP = {
    "bitrobust.__main__": "importing it runs the command line and exits",
}
#: Modules whose examples are known to fail (to be fixed; remove them from here then).
XFAIL: dict[str, str] = {}


def module_names() -> list[str]:
    names = []
    for path in sorted((SRC / "bitrobust").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def _param(name: str):
    if name in SKIP:
        return pytest.param(name, marks=pytest.mark.skip(reason=SKIP[name]))
    if name in XFAIL:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=XFAIL[name]))
    return name


@pytest.mark.parametrize("name", [_param(n) for n in module_names()])
def test_examples_run(name):
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    for test in doctest.DocTestFinder(exclude_empty=True).find(module, name):
        runner.run(test, out=report.append)
    assert runner.failures == 0, f"{runner.failures} of {runner.tries} examples failed in {name}:\n" + "".join(report)
