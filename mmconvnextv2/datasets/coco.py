"""mmdet's COCO data set, with its annotation file checked before mmdet parses it.

mmdet reports an empty or broken annotation file by the symptom, not the cause: a
``JSONDecodeError`` without the file's name, ``KeyError: 'categories'``, or, for a file without
images or with annotations of unknown images, ``need at least one array to concatenate`` from
deep inside its filtering. :class:`CocoDataset` names the file and what is wrong with it. Given
``scenes``, it first generates the bundled shapes scenes its data root should hold
(:mod:`~mmconvnextv2.datasets.shapes_on_demand`).
"""
import json
from collections.abc import Sequence
from typing import Any

import mmengine.fileio as fileio
from mmdet.datasets import CocoDataset as MMDetCocoDataset

from mmconvnextv2.registry import DATASETS

from .shapes_on_demand import ScenesOnDemand

COCO_SECTIONS = ('images', 'annotations', 'categories')
# How many offending entries an error message lists.
_MAX_LISTED = 5


def _listing(items: Sequence[Any]) -> str:
    """The first few items, with a count of the rest."""
    shown = ', '.join(repr(item) for item in items[:_MAX_LISTED])
    rest = len(items) - _MAX_LISTED
    return f'{shown} (and {rest} more)' if rest > 0 else shown


def _entries_lacking(entries: list[Any], fields: Sequence[str]) -> list[int]:
    """Indices of the entries that are not objects holding all of ``fields``."""
    return [index for index, entry in enumerate(entries)
            if not isinstance(entry, dict) or any(name not in entry for name in fields)]


def check_coco_annotations(path: str, backend_args: dict | None = None,
                           require_annotations: bool = True) -> None:
    """Checks that ``path`` is a COCO annotation file that mmdet can parse.

    The file must be a JSON object whose ``images``, ``annotations`` and ``categories`` are lists;
    images and categories need an ``id``, annotations an ``image_id`` and a ``category_id`` that
    name a listed image and category, and there must be at least one image.

    Args:
        path: The annotation file.
        backend_args: Arguments of the mmengine file backend that reads it.
        require_annotations: Whether ``annotations`` must be present. Image-info files for
            inference, such as COCO test-dev's, have none.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: Naming the file and its first problem.
    """
    if not fileio.exists(path, backend_args=backend_args):
        raise FileNotFoundError(f'COCO annotation file {path} does not exist; check ann_file and '
                                'data_root of the data set.')
    text = fileio.get_text(path, backend_args=backend_args)
    if not text.strip():
        raise ValueError(f'COCO annotation file {path} is empty; regenerate or re-download it.')
    try:
        coco = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f'COCO annotation file {path} is not valid JSON ({err}); it may be '
                         'truncated: regenerate or re-download it.') from err
    if not isinstance(coco, dict):
        raise ValueError(f'COCO annotation file {path} holds a JSON {type(coco).__name__}, not an '
                         f'object with the lists {list(COCO_SECTIONS)}.')
    if not require_annotations:
        coco.setdefault('annotations', [])
    missing = [section for section in COCO_SECTIONS if section not in coco]
    if missing:
        hint = (' (image-info files without annotations are accepted in test mode only)'
                if 'annotations' in missing else '')
        raise ValueError(f'COCO annotation file {path} lacks {missing}; a COCO instances file '
                         f'holds the lists {list(COCO_SECTIONS)}{hint}.')
    for section in COCO_SECTIONS:
        if not isinstance(coco[section], list):
            raise ValueError(f'COCO annotation file {path}: {section!r} must be a list, got a '
                             f'{type(coco[section]).__name__}.')
    if not coco['images']:
        raise ValueError(f'COCO annotation file {path} lists no images.')
    for section, fields in (('images', ('id',)), ('categories', ('id',)),
                            ('annotations', ('image_id', 'category_id'))):
        bad = _entries_lacking(coco[section], fields)
        if bad:
            raise ValueError(f'COCO annotation file {path}: {section} entries {_listing(bad)} '
                             f'(by index) are not objects with {list(fields)}.')
    _check_references(path, coco)


def _check_references(path: str, coco: dict) -> None:
    """Every annotation's ``image_id`` and ``category_id`` must name a listed image, category."""
    for field, section in (('image_id', 'images'), ('category_id', 'categories')):
        known = {entry['id'] for entry in coco[section]}
        unknown = sorted({ann[field] for ann in coco['annotations']} - known, key=str)
        if unknown:
            dangling = [ann.get('id', index) for index, ann in enumerate(coco['annotations'])
                        if ann[field] not in known]
            raise ValueError(f'COCO annotation file {path}: {len(dangling)} annotations (ids '
                             f'{_listing(dangling)}) refer to the {field} {_listing(unknown)}, '
                             f'which {section} does not list. Add those {section} or remove the '
                             'annotations.')


@DATASETS.register_module()
class CocoDataset(ScenesOnDemand, MMDetCocoDataset):
    """mmdet's ``CocoDataset``, with :func:`check_coco_annotations` run on the file first.

    Reachable as ``type='mmconvnextv2.CocoDataset'`` from any default scope. The check parses the
    file once more than mmdet does, a cost paid once at start-up.

    Args:
        *args: Arguments of mmdet's ``CocoDataset``.
        scenes: The bundled shapes scenes that ``data_root``, the ``coco`` folder of a shapes
            output, holds: ``dict(num_train=..., num_val=..., size=..., seed=...)``. Missing or
            unfinished scenes are generated here (see
            :func:`~mmconvnextv2.datasets.shapes_on_demand.ensure_layout_scenes`), scenes of
            other settings refused. None (the default) reads ``data_root`` as it is.
        **kwargs: Keyword arguments of mmdet's ``CocoDataset``.
    """

    layout = 'coco'

    def load_data_list(self) -> list[dict]:
        """mmdet's data list, after the annotation file has passed the check.

        Raises:
            FileNotFoundError: If the annotation file does not exist.
            ValueError: If it is empty, not JSON, or not a consistent COCO instances file.
        """
        check_coco_annotations(self.ann_file, self.backend_args,
                               require_annotations=not self.test_mode)
        return super().load_data_list()
