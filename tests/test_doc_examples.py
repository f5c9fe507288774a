"""The examples in flankit's docstrings run and print what they show."""

import doctest
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "flankit"
WITH_EXAMPLES = sorted(
    ".".join(("flankit", *p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
    for p in PACKAGE.rglob("*.py")
    if ">>> " in p.read_text(encoding="utf-8")
)


def test_the_package_has_examples():
    assert {"flankit.errors", "flankit.data.sources"} <= set(WITH_EXAMPLES)


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name}: no example was found"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
