"""The public API's docstrings: numpydoc sections present, and every example runs.

(1) Every public callable in ``bl.__all__`` and the public methods of the core classes has a
``Parameters`` section when it takes parameters (classes: ``Parameters`` or ``Attributes``
for their fields), a ``Returns`` section when it returns something, and an ``Examples``
section. (2) The doctests of every module under ``bayeslabels/`` pass; examples that would
run a sampler or touch files are marked ``# doctest: +SKIP``.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import pkgutil
import re
import sys
import textwrap

import pytest

import bayeslabels as bl

# classes whose public methods are part of the documented API
CORE_CLASSES = (
    "Fit",
    "SoftLabels",
    "Annotations",
    "EMResult",
    "VoteResult",
    "ConvergenceReport",
    "ModelSpec",
    "Calibration",
)


def _sections(doc: str) -> set[str]:
    """numpydoc section names: a title line underlined by dashes of the same length."""
    lines = inspect.cleandoc(doc).splitlines()
    return {
        title.strip()
        for title, rule in zip(lines, lines[1:], strict=False)
        if title.strip() and re.fullmatch(r"-{3,}", rule.strip()) and len(rule.strip()) == len(title.strip())
    }


def _takes_parameters(func) -> bool:
    params = list(inspect.signature(func).parameters.values())
    if params and params[0].name in ("self", "cls"):
        params = params[1:]
    return bool(params)


def _returns_something(func) -> bool:
    """A ``return <value>`` in the function's own body (not in nested functions)."""
    source = textwrap.dedent(inspect.getsource(func))
    node = ast.parse(source).body[0]
    stack = list(node.body)
    while stack:
        child = stack.pop()
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        if isinstance(child, ast.Return) and child.value is not None:
            if not (isinstance(child.value, ast.Constant) and child.value.value is None):
                return True
        stack.extend(ast.iter_child_nodes(child))
    return False


def _public_api():
    """(qualified name, object, kind) for every documented callable."""
    api = []
    for name in bl.__all__:
        obj = getattr(bl, name)
        if inspect.ismodule(obj) or not callable(obj):
            continue
        api.append((name, obj, "class" if inspect.isclass(obj) else "function"))
        if name in CORE_CLASSES:
            for attr, raw in vars(obj).items():
                if attr.startswith("_") or isinstance(raw, property):
                    continue
                func = raw.__func__ if isinstance(raw, staticmethod | classmethod) else raw
                if inspect.isfunction(func):
                    api.append((f"{name}.{attr}", func, "method"))
    return api


API = _public_api()


def test_api_is_found():
    names = {name for name, _, _ in API}
    expected = {"fit", "dawid_skene_em", "Fit.soft_labels", "Annotations.from_frame", "ModelSpec.to_toml"}
    assert expected <= names
    assert len(API) > 100


@pytest.mark.parametrize(("name", "obj", "kind"), API, ids=[name for name, _, _ in API])
def test_numpydoc_sections(name, obj, kind):
    doc = inspect.getdoc(obj) if kind != "class" else obj.__doc__
    assert doc and doc.strip(), f"{name} has no docstring"
    summary = inspect.cleandoc(doc).splitlines()[0]
    assert summary.strip(), f"{name}: the docstring starts with a blank line"
    sections = _sections(doc)
    missing = []
    if kind == "class":
        has_fields = bool(getattr(obj, "__dataclass_fields__", None)) or (
            not issubclass(obj, BaseException) and _takes_parameters(obj.__init__)
        )
        if has_fields and not sections & {"Parameters", "Attributes"}:
            missing.append("Parameters or Attributes")
    else:
        if _takes_parameters(obj) and "Parameters" not in sections:
            missing.append("Parameters")
        if _returns_something(obj) and "Returns" not in sections:
            missing.append("Returns")
    if "Examples" not in sections:
        missing.append("Examples")
    assert not missing, f"{name}: docstring lacks {', '.join(missing)} (has {sorted(sections)})"


def _modules():
    names = ["bayeslabels"]
    names += [m.name for m in pkgutil.walk_packages(bl.__path__, "bayeslabels.")]
    return sorted(names)


@pytest.mark.parametrize("module_name", _modules())
def test_doctests(module_name):
    importlib.import_module(module_name)
    module = sys.modules[module_name]  # not the attribute: bl.fit etc. are the functions
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False, report=True
    )
    assert result.failed == 0, f"{result.failed} doctest example(s) failed in {module_name}"
