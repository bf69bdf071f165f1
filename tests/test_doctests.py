"""Run the docstring examples of every library module, so they stay true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import geocity

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(geocity.__path__, prefix="geocity.")
    if not m.name.startswith(("geocity._build", "geocity.cli", "geocity._layers", "geocity._styles"))
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write here
    mod = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(mod, name):
        runner.run(test)
    res = runner.summarize(verbose=False)
    assert res.failed == 0, f"{res.failed} docstring example(s) of {name} failed (see output above)"
