"""The layers of docs/architecture.md, enforced on the source: who may import whom.

core (schedules, spaces) → training (pure PyTorch, no Optuna) → tuning (where Optuna meets
training) → report (reads storage, never trains) → the commands in lrtune/ itself. Read from each
module's syntax tree: top-level and function-level imports count, ``if TYPE_CHECKING:`` blocks
don't. A new module goes into its layer's folder (or, for a new command, gets a row here) — the test
fails until it does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lrtune"

CORE, TRAINING, TUNING, REPORT, COMMANDS, TOOLS = "core", "training", "tuning", "report", "commands", "tools"
RANK = {CORE: 0, TRAINING: 1, TUNING: 2, REPORT: 3, COMMANDS: 4, TOOLS: 5}

# One folder per layer: a module's layer is its folder's. The statistics package (pure
# numpy/scipy, no other lrtune import) sits at the bottom with core, so that the confirmation
# rounds in tuning can ask the verdict rule which families still race; the commands users type (`python -m lrtune.study`, ...) sit directly in
# lrtune/, above every layer, next to the two modules every command shares.
LAYERS: dict[str, str] = {
    "lrtune.core": CORE,
    "lrtune.cli": CORE,
    "lrtune.errors": CORE,
    "lrtune.training": TRAINING,
    "lrtune.tuning": TUNING,
    # Lightning / transformers glue: where an Optuna trial meets a third-party trainer, as tuning is
    # where it meets lrtune's own (imports core, training.schedule_free, tuning.pruning; never report)
    "lrtune.integrations": TUNING,
    "lrtune.stats": CORE,
    "lrtune.report": REPORT,
    "lrtune.study": COMMANDS,
    "lrtune.analyze": COMMANDS,
    "lrtune.dashboard": COMMANDS,
    "lrtune.simulate": COMMANDS,
    "lrtune.prune_accounting": COMMANDS,
    "lrtune.proxy": COMMANDS,
    "lrtune.bench": TOOLS,
    "lrtune": TOOLS,
    "lrtune.__main__": TOOLS,
}
LAYER_FOLDERS = {
    "core": CORE,
    "training": TRAINING,
    "tuning": TUNING,
    "integrations": TUNING,
    "report": REPORT,
    "stats": CORE,
}
MAX_TOP_MODULES = 12

SCHEDULE_MATHS = ("lrtune.core.schedules", "lrtune.core.shapes", "lrtune.core.families")
TRAINING_MODULES_FORBIDDEN_FOR_REPORT = "lrtune.training"


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
    if not module.startswith("lrtune") or (module == "lrtune" and names == ["__version__"]):
        return []  # the version string is a constant, not an import of the public names
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
        if layer == CORE and module in ("lrtune.core.schedules", "lrtune.core.shapes", "lrtune.core.families"):
            if target.startswith("optuna") or any(
                t not in ("lrtune.core.schedules", "lrtune.core.shapes", "lrtune.core.families")
                for t in project_targets(target, names)
            ):
                problems.append(f"the schedule maths imports {target}")
        for reached in project_targets(target, names):
            other = layer_of(reached)
            if other is None or reached == module:
                continue
            if layer == REPORT and reached.startswith(TRAINING_MODULES_FORBIDDEN_FOR_REPORT):
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


def test_the_folders_are_the_layers() -> None:
    """`ls lrtune` shows the layers: every module sits in its layer's folder or is a command."""
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, f"{len(top)} modules directly in lrtune/: {top}"
    stray = [m for m in SOURCES if m.count(".") == 1 and m not in LAYERS and m.split(".")[1] not in LAYER_FOLDERS]
    assert not stray, f"put these modules into a layer folder ({sorted(LAYER_FOLDERS)}): {stray}"
    for folder, layer in LAYER_FOLDERS.items():
        assert (PACKAGE / folder / "__init__.py").is_file()
        assert layer_of(f"lrtune.{folder}") == layer


def test_tests_mirror_the_folders() -> None:
    """tests/<folder>/test_<module>.py tests lrtune/<folder>/<module>.py; none sits elsewhere."""
    tests = PACKAGE.parent / "tests"
    misplaced = []
    for path in tests.rglob("test_*.py"):
        stem = path.stem.removeprefix("test_")
        folder = path.parent.relative_to(tests).parts
        homes = [p.parent.relative_to(PACKAGE).parts for p in PACKAGE.rglob(f"{stem}.py")]
        if folder and folder[0] == "bench":
            stem = stem.removeprefix("bench_")
            homes = [p.parent.relative_to(PACKAGE).parts for p in (PACKAGE / "bench").glob(f"{stem}.py")]
        if homes and folder not in homes:
            misplaced.append(f"{path.relative_to(tests)} (module in lrtune/{'/'.join(homes[0])})")
        if folder and not homes:
            misplaced.append(f"{path.relative_to(tests)} (no lrtune/{'/'.join(folder)}/{stem}.py)")
    assert not misplaced, misplaced
