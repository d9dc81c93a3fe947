"""The layers of docs/architecture.md, enforced on the source: who may import whom.

core (schedules, spaces) → training (pure PyTorch, no Optuna) → tuning (where Optuna meets
training) → report (reads storage, never trains; it may *call* confirmations). Read from each
module's syntax tree: top-level and function-level imports count, ``if TYPE_CHECKING:`` blocks
don't. A new module must be given a layer here — the test fails until it is.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lrtune"

CORE, TRAINING, TUNING, REPORT, TOOLS = "core", "training", "tuning", "report", "tools"
RANK = {CORE: 0, TRAINING: 1, TUNING: 2, REPORT: 3, TOOLS: 4}

LAYERS: dict[str, str] = {
    # core: the schedule maths and the Optuna search spaces over it
    "lrtune.families": CORE,
    "lrtune.shapes": CORE,
    "lrtune.schedules": CORE,
    "lrtune.spaces": CORE,
    "lrtune.recognize": CORE,
    "lrtune.cli": CORE,
    # training: pure PyTorch
    "lrtune.data": TRAINING,
    "lrtune.models": TRAINING,
    "lrtune.metrics": TRAINING,
    "lrtune.train": TRAINING,
    "lrtune.epochs": TRAINING,
    "lrtune.schedule_free": TRAINING,
    "lrtune.memory": TRAINING,
    "lrtune.stacked_layers": TRAINING,
    "lrtune.stacked_model": TRAINING,
    "lrtune.fused": TRAINING,
    "lrtune.group_size": TRAINING,
    "lrtune.tasks": TRAINING,
    "lrtune.user_task": TRAINING,
    # tuning: Optuna meets training
    "lrtune.keys": TUNING,
    "lrtune.storage": TUNING,
    "lrtune.optuna_compat": TUNING,
    "lrtune.config": TUNING,
    "lrtune.pruning": TUNING,
    "lrtune.objective": TUNING,
    "lrtune.runner": TUNING,
    "lrtune.workers": TUNING,
    "lrtune.study": TUNING,
    "lrtune.confirmations": TUNING,
    "lrtune.own_confirm": TUNING,
    "lrtune.prune_accounting": TUNING,
    # report: reads storage, never trains
    "lrtune.stats": REPORT,
    "lrtune.report": REPORT,
    "lrtune.notes": REPORT,
    "lrtune.dashboard": REPORT,
    "lrtune.analyze": REPORT,
    "lrtune.simulate": REPORT,
    # tools over everything: the benchmark, the package's entry points
    "lrtune.bench": TOOLS,
    "lrtune": TOOLS,
    "lrtune.__main__": TOOLS,
}

# The report calls confirmations (analyze --confirm), it does not own training; the study CLI
# writes each study's and trial's dashboard note while it runs (notes imports no training).
ALLOWED_UPWARD = {("lrtune.analyze", "lrtune.confirmations"), ("lrtune.study", "lrtune.notes")}
TRAINING_MODULES_FORBIDDEN_FOR_REPORT = {m for m, layer in LAYERS.items() if layer == TRAINING}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str | None:
    """The layer of ``module`` or of the nearest package above it that has one."""
    if module == "lrtune":
        return LAYERS[module]
    parts = module.split(".")
    for n in range(len(parts), 1, -1):  # the package root lrtune is no fallback
        layer = LAYERS.get(".".join(parts[:n]))
        if layer is not None:
            return layer
    return None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path) -> list[tuple[str, list[str], bool]]:
    """``(module, imported names, at module top level)`` for every runtime import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, list[str], bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, [], top) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.append((child.module, [a.name for a in child.names], top))
            inner = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, inner)

    visit(tree, True)
    return found


SOURCES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def project_targets(module: str, names: list[str]) -> list[str]:
    """Project modules an import statement reaches (``from lrtune import x`` reaches ``lrtune.x``)."""
    if not module.startswith("lrtune"):
        return []
    submodules = [f"{module}.{n}" for n in names if f"{module}.{n}" in SOURCES]
    return submodules or [module]


def test_every_module_has_a_layer() -> None:
    missing = [m for m in SOURCES if layer_of(m) is None]
    assert not missing, f"give these modules a layer in tests/test_layers.py: {missing}"


@pytest.mark.parametrize("module", sorted(SOURCES))
def test_imports_point_down_the_layers(module: str) -> None:
    layer = layer_of(module)
    problems = []
    for target, names, _ in imports(SOURCES[module]):
        if layer == TRAINING and target.split(".")[0] == "optuna":
            problems.append(f"training code imports {target} (training is pure PyTorch)")
        if layer == CORE and module in ("lrtune.schedules", "lrtune.shapes", "lrtune.families"):
            if target.startswith("optuna") or any(
                t not in ("lrtune.schedules", "lrtune.shapes", "lrtune.families")
                for t in project_targets(target, names)
            ):
                problems.append(f"the schedule maths imports {target}")
        for reached in project_targets(target, names):
            other = layer_of(reached)
            if other is None or reached == module or (module, reached) in ALLOWED_UPWARD:
                continue
            if layer == REPORT and reached in TRAINING_MODULES_FORBIDDEN_FOR_REPORT:
                problems.append(f"report code imports training code {reached}")
            elif RANK[other] > RANK[layer]:
                problems.append(f"{layer} code imports {reached} of the {other} layer")
    assert not problems, f"{module}: " + "; ".join(problems)


def test_no_private_name_crosses_a_module() -> None:
    crossings = [
        f"{module} imports {name} from {target}"
        for module, path in SOURCES.items()
        for target, names, _ in imports(path)
        if target.startswith("lrtune")
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert not crossings, crossings


def test_no_import_cycle_at_module_level() -> None:
    graph = {
        module: {
            reached
            for target, names, top in imports(path)
            if top
            for reached in project_targets(target, names)
            if reached in SOURCES and reached != module and reached != "lrtune"
        }
        for module, path in SOURCES.items()
    }
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            pytest.fail("import cycle: " + " → ".join(cycle))


def test_architecture_page_lists_every_module_with_its_imports() -> None:
    """docs/architecture.md has one row per module, under its layer, naming exactly what it imports."""
    page = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    page = page.split("## What lrtune writes", 1)[0]

    def short(module: str) -> str:
        return module if module == "lrtune" else module.removeprefix("lrtune.")

    documented: dict[str, tuple[str, set[str]]] = {}
    layer = None
    for line in page.splitlines():
        if line.startswith("### "):
            layer = line[4:].split(" ", 1)[0]
        elif line.startswith("| `") and layer is not None:
            cells = [c.strip() for c in line.strip("|").split("|")]
            deps = set() if cells[-1] == "—" else {d.strip() for d in cells[-1].split(",")}
            documented[cells[0].strip("`")] = (layer, deps)
    actual = {
        short(m): (
            layer_of(m),
            {
                short(r)
                for target, names, _ in imports(path)
                for r in project_targets(target, names)
                if r in SOURCES and r != m
            },
        )
        for m, path in SOURCES.items()
    }
    assert sorted(documented) == sorted(actual), "rows differ from the modules in lrtune/"
    wrong = {m: (documented[m], actual[m]) for m in actual if documented[m] != actual[m]}
    assert not wrong, f"docs/architecture.md rows out of date (documented, actual): {wrong}"
