"""The package's shape: a light import, one public API, a family registry, no import cycles."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import bayeslabels as bl
from bayeslabels.choices import shipped_specs
from bayeslabels.models import family, family_names

PACKAGE = Path(bl.__file__).parent
HEAVY = ("pymc", "pytensor", "arviz", "arviz_stats", "matplotlib", "nutpie", "numba")


def _modules_loaded_by(code: str) -> list[str]:
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_import_bayeslabels_loads_no_sampler_and_no_plotting_library():
    loaded = _modules_loaded_by("import bayeslabels")
    assert not [name for name in loaded if name.split(".")[0] in HEAVY]


def test_the_command_line_help_and_em_start_without_pymc():
    help_run = "from bayeslabels.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    loaded = _modules_loaded_by(help_run)
    assert not [name for name in loaded if name.split(".")[0] in HEAVY]
    em_run = (
        "import bayeslabels as bl\n"
        "sim = bl.simulate.dawid_skene(n_items=30, n_annotators=6, n_classes=2, seed=0)\n"
        "bl.dawid_skene_em(sim.annotations)"
    )
    assert "pymc" not in {name.split(".")[0] for name in _modules_loaded_by(em_run)}


def test_the_command_line_refuses_a_bad_file_before_loading_pymc(tmp_path):
    """An input error comes back in about a second: the labels are read and checked first."""
    bad = tmp_path / "labels.csv"
    bad.write_text("item,annotator,label\na,b,\n")
    run = (
        "from bayeslabels.cli import main\n"
        f"code = main(['fit', {str(bad)!r}, '--out', {str(tmp_path / 'soft.csv')!r}])\n"
        "assert code == 2, code"
    )
    loaded = _modules_loaded_by(run)
    assert not [name for name in loaded if name.split(".")[0] in HEAVY]


def test_a_fit_by_em_loads_no_sampler_and_no_plotting_library():
    """`bl.fit(method="em")` with its check and export: the samplers (nutpie, numba, JAX: 3 s of
    every command's start) and matplotlib load where NUTS runs or a figure is drawn, not before."""
    em_fit = (
        "import bayeslabels as bl\n"
        "sim = bl.simulate.dawid_skene(n_items=30, n_annotators=6, n_classes=2, seed=0)\n"
        "fit = bl.fit(sim.annotations, method='em')\n"
        "fit.check(); fit.soft_labels().to_frame()"
    )
    loaded = {name.split(".")[0] for name in _modules_loaded_by(em_fit)}
    assert not loaded & {"nutpie", "numba", "jax", "arviz_stats", "matplotlib"}


def test_every_public_name_resolves_and_the_type_checking_imports_list_the_same_names():
    for name in bl.__all__:
        assert getattr(bl, name) is not None, name
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    guarded = next(
        node for node in tree.body if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
    )
    declared = {alias.asname or alias.name for node in guarded.body for alias in node.names}
    assert declared == set(bl._EXPORTS) | {"__version__"} == set(bl.__all__)


def test_the_public_functions_keep_their_names_when_their_modules_are_imported():
    import bayeslabels.agreement  # noqa: F401
    import bayeslabels.evaluate  # noqa: F401
    import bayeslabels.fit  # noqa: F401

    assert callable(bl.fit) and bl.fit.__module__ == "bayeslabels.fitting"
    assert callable(bl.evaluate) and callable(bl.agreement)


def test_every_shipped_spec_names_a_registered_family_and_every_family_has_a_spec():
    shipped = {bl.resolve_spec(name).model for name in shipped_specs()}
    assert shipped == set(family_names())
    for name in family_names():
        assert bl.resolve_spec(name).priors.__class__ is family(name).priors


def _runtime_imports(path: Path, package: str) -> set[str]:
    """Modules of the package a module imports at run time: at its top or inside its functions
    (an import inside a function hides a cycle, it does not remove it), not under TYPE_CHECKING."""
    module = package + "." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    module = module.removesuffix(".__init__")
    is_package = path.name == "__init__.py"
    found = set()
    tree = ast.parse(path.read_text())
    type_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.level:
            base = module.split(".")
            base = base[: len(base) - node.level + (1 if is_package else 0)]
            target = ".".join(base + ([node.module] if node.module else []))
            names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
            for name in names:
                if name.startswith(package + "."):
                    found.add(name)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith(package + ".")}
    return found


def test_the_package_has_no_import_cycles():
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = "bayeslabels." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph = {
        name: {m for m in _runtime_imports(path, "bayeslabels") if m in modules and m != name}
        for name, path in modules.items()
        if name != "bayeslabels"  # the root imports nothing at run time (PEP 562 lazy names)
    }
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for child in graph.get(node, ()):
            if state.get(child) == 1:
                raise AssertionError("import cycle: " + " → ".join([*stack, node, child]))
            if not state.get(child):
                visit(child, [*stack, node])
        state[node] = 2

    for node in graph:
        if not state.get(node):
            visit(node, [])
