"""The package's layers import only downwards: a static scan of every module of ``mmconvnextv2/``.

Every import of another ``mmconvnextv2`` module counts, wherever it is written: at module level or
inside a function, absolute or relative, and ``importlib.import_module`` of a literal name. A unit
is a top-level module or subpackage of ``mmconvnextv2`` (``models``, ``registry``, ...), or the
package's own ``__init__`` (the facade users import, :data:`FACADE`).
"""
import ast
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / 'mmconvnextv2'
NAME = 'mmconvnextv2'
FACADE = '__init__'
# Bottom to top. A unit imports from its own unit and from units of lower layers only; units that
# share a layer do not import each other.
LAYERS = (
    ('version', 'dependencies', 'registry'),  # plain declarations; registry locations are strings
    ('utils', ),
    ('converters', ),  # checkpoint layouts; models load pretrained weights through them
    ('datasets', 'models'),
    ('engine', ),  # the layer-decay constructor reads the models' layer ids
    ('analysis', ),
    ('apis', ),  # inference
    (FACADE, ),
)
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


class Import(NamedTuple):
    """One import of an ``mmconvnextv2`` module: who imports what, and where."""

    source: str  # the importing unit
    target: str  # the imported unit
    module: str  # the importing module's dotted name
    line: int


def module_name(path: Path, root: Path) -> str:
    """``mmconvnextv2.models.layers.grn`` for ``<root>/models/layers/grn.py``."""
    parts = path.relative_to(root).with_suffix('').parts
    if parts[-1] == '__init__':
        parts = parts[:-1]
    return '.'.join((NAME, ) + parts)


def unit_of(dotted: str, root: Path) -> str:
    """The unit of a dotted ``mmconvnextv2[.<unit>[...]]`` name."""
    parts = dotted.split('.')
    if len(parts) == 1:
        return FACADE
    if (root / parts[1]).is_dir() or (root / f'{parts[1]}.py').is_file():
        return parts[1]
    return FACADE  # a name the facade defines, e.g. ``mmconvnextv2.register_all_modules``


def imported_names(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, int]]:
    """Every dotted name ``tree`` imports, relative imports resolved, with its line."""
    package = module if is_package else module.rpartition('.')[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')[:len(package.split('.')) - node.level + 1]
                base_name = '.'.join(base + ([node.module] if node.module else []))
            else:
                base_name = node.module or ''
            # ``from mmconvnextv2 import models`` imports the subpackage models.
            for alias in node.names:
                yield f'{base_name}.{alias.name}', node.lineno
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and getattr(node.func, 'attr', getattr(node.func, 'id', None))
              in ('import_module', '__import__')):
            yield node.args[0].value, node.lineno


def scan(root: Path = PACKAGE) -> list[Import]:
    """The imports between different units of the package at ``root``."""
    found: list[Import] = []
    for path in sorted(root.rglob('*.py')):
        module = module_name(path, root)
        source = FACADE if module == NAME else unit_of(module, root)
        tree = ast.parse(path.read_text(), str(path))
        for name, line in imported_names(tree, module, path.name == '__init__.py'):
            if name == NAME or name.startswith(NAME + '.'):
                target = unit_of(name, root)
                if target != source and Import(source, target, module, line) not in found:
                    found.append(Import(source, target, module, line))
    return found


def units(root: Path = PACKAGE) -> set[str]:
    """The package's units: its top-level modules and subpackages, and the facade."""
    modules = {path.stem for path in root.glob('*.py') if path.name != '__init__.py'}
    packages = {path.name for path in root.iterdir() if (path / '__init__.py').is_file()}
    return modules | packages | {FACADE}


def find_cycle(edges: set[tuple[str, str]]) -> list[str]:
    """A cycle ``[a, b, ..., a]`` of the directed graph ``edges``, or ``[]``."""
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str]:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return []
        for successor in sorted(graph.get(node, ())):
            cycle = visit(successor, path + [node])
            if cycle:
                return cycle
        done.add(node)
        return []

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle:
            return cycle
    return []


def describe(imports: list[Import]) -> str:
    return '\n'.join(f'  {i.module} (line {i.line}) imports {NAME}.{i.target}' for i in imports)


def test_no_import_cycle_between_units():
    imports = scan()
    cycle = find_cycle({(i.source, i.target) for i in imports})
    # One import per edge of the cycle.
    on_cycle = [next(i for i in imports if (i.source, i.target) == edge)
                for edge in zip(cycle, cycle[1:])]
    assert not cycle, f'Import cycle {" -> ".join(cycle)}:\n{describe(on_cycle)}'


def test_units_import_only_lower_layers():
    upward = [i for i in scan() if RANK[i.target] >= RANK[i.source]]
    assert not upward, ('Imports of a unit of the same or a higher layer (LAYERS in '
                        f'{Path(__file__).name}):\n{describe(upward)}')


def test_every_unit_has_a_layer():
    assert units() == set(RANK), ('Place each unit of mmconvnextv2 in LAYERS, and name no other: '
                                  f'unplaced {sorted(units() - set(RANK))}, '
                                  f'gone {sorted(set(RANK) - units())}')


def test_scan_sees_the_package_imports():
    # Known imports of the package, so that a scan that finds nothing cannot pass.
    edges = {(i.source, i.target) for i in scan()}
    assert {('models', 'registry'), ('datasets', 'registry'), ('engine', 'models'),
            ('models', 'converters'), (FACADE, 'utils')} <= edges


@pytest.mark.parametrize('code, where, target', [
    ('from mmconvnextv2.models import GRN', 'utils/atomic_write.py', 'models'),
    ('def f():\n    import mmconvnextv2.engine.hooks\n', 'utils/atomic_write.py', 'engine'),
    ('def f():\n    from ..models import GRN\n', 'utils/atomic_write.py', 'models'),
    ('from ... import analysis\n', 'models/layers/grn.py', 'analysis'),
    ('from .. import registry\n', 'utils/__init__.py', 'registry'),
    ('from mmconvnextv2 import register_all_modules\n', 'models/grn.py', FACADE),
    ("importlib.import_module('mmconvnextv2.apis')\n", 'utils/setup_env.py', 'apis'),
])
def test_scan_finds_every_form_of_import(tmp_path, code, where, target):
    root = tmp_path / NAME
    for unit in ('utils', 'models', 'models/layers', 'engine', 'analysis', 'apis'):
        (root / unit).mkdir(parents=True, exist_ok=True)
        (root / unit / '__init__.py').write_text('')
    (root / '__init__.py').write_text('')
    (root / 'registry.py').write_text('')
    (root / where).write_text(code)
    source = where.split('/')[0]
    assert [(i.source, i.target) for i in scan(root)] == [(source, target)]


def test_find_cycle_names_the_cycle():
    assert find_cycle({('a', 'b'), ('b', 'c')}) == []
    assert find_cycle({('a', 'b'), ('b', 'c'), ('c', 'a'), ('c', 'd')}) == ['a', 'b', 'c', 'a']
