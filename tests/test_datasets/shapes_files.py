"""What the shapes data set tests compare: every file of an output folder, by relative path."""
import os
import os.path as osp


def read_tree(root: str) -> dict[str, bytes]:
    """The bytes of every file under ``root``, keyed by its path relative to ``root``."""
    files = {}
    for folder, _, names in os.walk(root):
        for file in names:
            path = osp.join(folder, file)
            with open(path, 'rb') as f:
                files[osp.relpath(path, root)] = f.read()
    return files
