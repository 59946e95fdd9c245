"""The tools' module docstrings are their ``--help`` text: examples must print as written."""
import ast
import glob
import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = sorted(glob.glob(osp.join(REPO, 'tools', '**', '*.py'), recursive=True))


def joined_lines(source: str) -> list[str]:
    """Lines of the module docstring's source that a bare backslash joins with the next one."""
    tree = ast.parse(source)
    if not (tree.body and isinstance(tree.body[0], ast.Expr)
            and isinstance(tree.body[0].value, ast.Constant)
            and isinstance(tree.body[0].value.value, str)):
        return []
    literal = ast.get_source_segment(source, tree.body[0].value)
    if literal[0] in 'rR':  # a raw string keeps its backslashes
        return []
    return [line for line in literal.splitlines()
            if line.endswith('\\') and (len(line) - len(line.rstrip('\\'))) % 2 == 1]


def test_a_bare_backslash_is_found_and_an_escaped_one_is_not():
    assert joined_lines('"""Run:\n    tool.py \\\n        --flag\n"""\n') == ['    tool.py \\']
    assert joined_lines('"""Run:\n    tool.py \\\\\n        --flag\n"""\n') == []
    assert joined_lines('r"""Run:\n    tool.py \\\n        --flag\n"""\n') == []


@pytest.mark.parametrize('path', TOOLS, ids=lambda p: osp.relpath(p, REPO))
def test_example_commands_keep_their_line_continuations(path):
    with open(path) as f:
        bad = joined_lines(f.read())
    # In a docstring, a backslash at the end of a line joins it with the next one: --help would
    # print the example as one line with the indentation inside it.
    assert not bad, (f'{osp.relpath(path, REPO)}: write "\\\\" for a shell line continuation '
                     f'in the docstring: {bad}')
