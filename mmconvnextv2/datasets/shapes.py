"""The bundled synthetic "shapes" data set: seeded scenes of coloured shapes on a noisy grey ground.

Every scene is a square RGB image holding one large "main" shape and one to four smaller ones, of
``SHAPE_CLASSES``, with random colour, size, position, rotation and aspect, possibly overlapping
(later instances occlude earlier ones). The main shape has at least 4.4 times the area of any other
and keeps at least 70 % of it visible, so a person names the scene's label, its class, at a glance;
the small shapes, their shading and the sensor noise are clutter a model has to see past. Each
instance keeps the mask of its *visible* pixels; instances left with too few visible pixels are
removed from the scene before it is rendered, so every painted shape pixel is annotated.

:func:`write_shapes_dataset` writes the same scenes in three standard layouts:

- ``cls/``: mmpretrain ``CustomDataset`` folders ``{train,val}/<class>/<id>.jpg`` and
  ImageNet-style ``meta/{train,val}.txt``; the label is the class of the main shape.
- ``coco/``: ``{train,val}/<id>.jpg`` and ``annotations/instances_{train,val}.json`` with
  compressed-RLE instance masks (category ids ``1..K``).
- ``ade/``: ADE20K-style ``images/{training,validation}/<id>.jpg`` and single-channel label PNGs
  ``annotations/{training,validation}/<id>.png``: 1 = background, ``2..K+1`` = the shapes
  (0, "other", does not occur), so after ``reduce_zero_label`` the classes are
  ``('background', *SHAPE_CLASSES)``.

Everything derives from ``seed``: scene ``index`` of ``split`` uses :func:`scene_rng`, so two runs
with the same arguments write byte-identical files, and :class:`ShapesClsDataset` renders the same
scenes on the fly, at any number, from the ``train``, ``val`` and unlabelled ``pool`` splits.
:func:`ensure_shapes_dataset` writes them only where they are missing; the data sets that read the
COCO and ADE20K layouts call it on demand (:mod:`.shapes_on_demand`).
"""
import contextlib
import fcntl
import io
import json
import os
import os.path as osp
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from pycocotools import mask as mask_utils

from mmconvnextv2.utils import atomic_write_bytes

# Sorted, so the class indices equal those mmpretrain's CustomDataset derives from sorted folders.
SHAPE_CLASSES: tuple[str, ...] = ('circle', 'cross', 'ring', 'square', 'star', 'triangle')
# The splits written to disk; scene_rng also draws the unlabelled pre-training ``pool``, whose
# scenes are independent of both (its position in SCENE_SPLITS keeps the others' seeds).
SPLITS: tuple[str, ...] = ('train', 'val')
SCENE_SPLITS: tuple[str, ...] = (*SPLITS, 'pool')
# Bump whenever a change of this module changes the generated files: it invalidates old output.
GENERATOR_VERSION = 3
MANIFEST_NAME = 'shapes_manifest.json'
# Held by ensure_shapes_dataset while it checks and writes an output folder.
_LOCK_NAME = '.shapes_lock'
DEFAULT_NUM_TRAIN = 1200
DEFAULT_NUM_VAL = 200

# Sizes as the radius of the circle of equal area, in fractions of the image side. The main shape
# has at least (0.19 / 0.09)**2 = 4.4 times the area of any secondary one.
_MAIN_RADIUS = (0.19, 0.25)
_SECONDARY_RADIUS = (0.05, 0.09)
_MAX_SECONDARY = 4
_ASPECT = (0.85, 1.15)
# An instance is dropped when fewer pixels than this (fraction of the image) or than this fraction
# of its own area stay visible: such slivers no longer show their class.
_MIN_VISIBLE_AREA = 0.002
_MIN_VISIBLE_FRACTION = 0.25
# The main shape is drawn on top when the shapes above it would hide more than 30 % of it.
_MIN_MAIN_VISIBLE_FRACTION = 0.7
# Minimum RGB distance of a shape's colour from the ground under it and from earlier shapes.
_MIN_CONTRAST = 90.0
_GROUND_LEVEL = 128.0
_JPEG_QUALITY = 92
_ADE_SPLITS = {'train': 'training', 'val': 'validation'}
MIN_SIZE = 64


@dataclass(frozen=True, eq=False)  # arrays have no plain ==
class ShapeInstance:
    """One visible shape of a scene.

    Attributes:
        class_id: Index into ``SHAPE_CLASSES``.
        mask: Boolean ``(H, W)`` mask of the pixels where this instance is visible.
        area: Number of visible pixels.
        bbox: Box of the visible pixels as COCO ``(x, y, w, h)`` in pixels.
    """
    class_id: int
    mask: np.ndarray
    area: int
    bbox: tuple[int, int, int, int]

    @classmethod
    def from_mask(cls, class_id: int, mask: np.ndarray) -> 'ShapeInstance':
        """Builds an instance, deriving area and box from a non-empty boolean mask."""
        ys, xs = np.nonzero(mask)
        x0, y0 = int(xs.min()), int(ys.min())
        bbox = (x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1)
        return cls(class_id=class_id, mask=mask, area=int(mask.sum()), bbox=bbox)


@dataclass(frozen=True, eq=False)  # arrays have no plain ==
class Scene:
    """A rendered scene.

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB image.
        instances: The visible instances, bottom to top; their masks are disjoint.
        label: The classification label: the class of the main shape.
    """
    image: np.ndarray
    instances: tuple[ShapeInstance, ...]
    label: int

    def label_map(self) -> np.ndarray:
        """The ADE20K-style ``(H, W)`` uint8 label map: 1 = background, ``class_id + 2`` = shape."""
        labels = np.ones(self.image.shape[:2], dtype=np.uint8)
        for instance in self.instances:
            labels[instance.mask] = instance.class_id + 2
        return labels

    def class_areas(self) -> np.ndarray:
        """The visible pixels of each class, summed over its instances: ``(K,)`` int64."""
        return np.bincount([i.class_id for i in self.instances],
                           weights=[i.area for i in self.instances],
                           minlength=len(SHAPE_CLASSES)).astype(np.int64)


@dataclass(frozen=True, eq=False)  # arrays have no plain ==
class _ShapeSpec:
    """Where and how one shape is drawn, before occlusion is resolved."""
    class_id: int
    polygons: tuple[tuple[np.ndarray, bool], ...]  # (N, 2) xy vertices; True fills, False cuts
    colour: np.ndarray  # (3,) float RGB
    shading: np.ndarray  # (3,) gradient direction (x, y) and strength


def _regular_polygon(n: int, radius: float = 1.0, phase: float = -np.pi / 2) -> np.ndarray:
    """Vertices of a regular ``n``-gon of circumradius ``radius``, one vertex at ``phase``."""
    angles = phase + 2 * np.pi * np.arange(n) / n
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _star(points: int = 5, inner: float = 0.45) -> np.ndarray:
    """Vertices of a star with ``points`` tips on the unit circle and notches at ``inner``."""
    radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    angles = -np.pi / 2 + np.pi * np.arange(2 * points) / points
    return radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _cross(half_width: float = 0.3) -> np.ndarray:
    """Vertices of a plus sign whose arms reach the unit square's sides."""
    w = half_width
    return np.array([(-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w), (w, 1), (-w, 1),
                     (-w, w), (-1, w), (-1, -w), (-w, -w)], dtype=float)


def _polygon_area(vertices: np.ndarray) -> float:
    """Area of a simple polygon (shoelace formula)."""
    x, y = vertices[:, 0], vertices[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _unit_shape(class_id: int) -> tuple[tuple[np.ndarray, bool], ...]:
    """The polygons of a class, centred at 0 and scaled to the area of the unit circle."""
    name = SHAPE_CLASSES[class_id]
    if name == 'ring':
        parts = ((_regular_polygon(72), True), (_regular_polygon(72, radius=0.55), False))
    else:
        outline = {'circle': lambda: _regular_polygon(72),
                   'square': lambda: _regular_polygon(4, phase=np.pi / 4),
                   'triangle': lambda: _regular_polygon(3),
                   'star': _star,
                   'cross': _cross}[name]()
        parts = ((outline, True), )
    area = sum(_polygon_area(p) * (1 if fill else -1) for p, fill in parts)
    scale = np.sqrt(np.pi / area)
    return tuple((p * scale, fill) for p, fill in parts)


def _draw_background(size: int) -> np.ndarray:
    """A float ``(size, size, 3)`` ground of one mid grey (the sensor noise comes in ``_paint``).

    Version 2 drew a four-colour gradient with stripes: ResNet-18 learned the task on it, but
    ConvNeXt V2-Atto from scratch (LayerNorm, no batch statistics) collapsed to a constant
    prediction on it and on a 0.3-contrast copy, while on this ground it learns
    (docs/history.md).
    """
    return np.full((size, size, 3), _GROUND_LEVEL)


def _pick_colour(rng: np.random.Generator, ground: np.ndarray,
                 used: list[np.ndarray]) -> np.ndarray:
    """A random colour far from ``ground`` and the ``used`` colours, or the farthest of 20 tries."""
    best, best_distance = None, -1.0
    for _ in range(20):
        colour = rng.uniform(0, 255, size=3)
        distance = min(float(np.linalg.norm(colour - other)) for other in [ground, *used])
        if distance >= _MIN_CONTRAST:
            return colour
        if distance > best_distance:
            best, best_distance = colour, distance
    return best


def _sample_spec(rng: np.random.Generator, size: int, class_id: int,
                 radius_range: tuple[float, float], ground: np.ndarray,
                 used_colours: list[np.ndarray]) -> _ShapeSpec:
    """Samples the size, aspect, rotation, position and colour of one shape of ``class_id``."""
    radius = rng.uniform(*radius_range) * size
    aspect = rng.uniform(*_ASPECT)
    angle = rng.uniform(0, 2 * np.pi)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    # Stretch x and shrink y by the same factor, so the area stays pi * radius**2.
    stretch = np.array([np.sqrt(aspect), 1 / np.sqrt(aspect)])
    polygons = [(p * stretch * radius @ rotation.T, fill) for p, fill in _unit_shape(class_id)]

    # Keep the whole shape inside the image: the outer polygon bounds every part.
    outline = polygons[0][0]
    low, high = -outline.min(axis=0), size - 1 - outline.max(axis=0)
    centre = rng.uniform(low, high)
    colour = _pick_colour(rng, ground[int(centre[1]), int(centre[0])], used_colours)
    shading = np.append(rng.normal(size=2), rng.uniform(0, 0.25))
    return _ShapeSpec(class_id=class_id,
                      polygons=tuple((p + centre, fill) for p, fill in polygons),
                      colour=colour, shading=shading)


def _rasterize(spec: _ShapeSpec, size: int) -> np.ndarray:
    """The boolean ``(size, size)`` mask of all pixels a shape covers."""
    canvas = Image.new('L', (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    for polygon, fill in spec.polygons:
        draw.polygon([tuple(v) for v in polygon], fill=1 if fill else 0)
    return np.asarray(canvas, dtype=bool)


def _visible_masks(masks: list[np.ndarray]) -> list[np.ndarray]:
    """The visible part of each of the (non-empty list of) masks painted in order, later on top."""
    covered = np.zeros_like(masks[0])
    visible = []
    for mask in reversed(masks):
        visible.append(mask & ~covered)
        covered = covered | mask
    return visible[::-1]


def _drop_hidden(masks: list[np.ndarray]) -> list[int]:
    """Indices of the masks kept once every too-occluded one is removed (repeated until stable).

    Removing an instance only uncovers those below it, so repeating terminates; the top one is
    always fully visible and is never removed.
    """
    keep = list(range(len(masks)))
    min_area = _MIN_VISIBLE_AREA * masks[0].size
    while True:
        visible = _visible_masks([masks[i] for i in keep])
        kept = [i for i, v in zip(keep, visible)
                if v.sum() >= max(min_area, _MIN_VISIBLE_FRACTION * masks[i].sum())]
        if kept == keep:
            return keep
        keep = kept


def _paint(ground: np.ndarray, specs: list[_ShapeSpec], masks: list[np.ndarray],
           rng: np.random.Generator) -> np.ndarray:
    """Paints the shapes in order on the ground, adds sensor noise and quantizes to uint8."""
    size = ground.shape[0]
    image = ground.copy()
    yy, xx = np.mgrid[0:size, 0:size] / size - 0.5
    for spec, mask in zip(specs, masks):
        direction = spec.shading[:2] / (np.linalg.norm(spec.shading[:2]) + 1e-6)
        # A soft linear shade, so a shape is not one flat colour.
        shade = 1 + spec.shading[2] * (xx * direction[0] + yy * direction[1]) * 2
        image[mask] = spec.colour * shade[mask][:, None]
    image += rng.normal(0, rng.uniform(2, 8), size=image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random generator of scene ``index`` of ``split``; independent of all other scenes.

    Args:
        seed: Data set seed, ``>= 0``.
        split: One of ``SCENE_SPLITS``.
        index: Scene index within the split, ``>= 0``.

    Returns:
        A generator seeded by ``(seed, split, index)``.
    """
    if split not in SCENE_SPLITS:
        raise ValueError(f'split must be one of {SCENE_SPLITS}, got {split!r}')
    if seed < 0 or index < 0:
        raise ValueError(f'seed and index must be >= 0, got seed={seed}, index={index}')
    return np.random.default_rng(np.random.SeedSequence([seed, SCENE_SPLITS.index(split), index]))


def draw_scene(rng_or_seed: np.random.Generator | int, size: int = 224,
               main_class: int | None = None) -> Scene:
    """Draws one scene: a grey ground, one large shape and one to four smaller ones.

    The large shape goes to a random depth, so it occludes and is occluded, unless the shapes
    above it would hide more than 30 % of it: then it is drawn on top.

    Args:
        rng_or_seed: The random generator to draw from, or a seed (``>= 0``) for a new one.
        size: Side of the square image in pixels, ``>= 64``.
        main_class: Class id of the large shape; random when None.

    Returns:
        The scene, whose instances are the shapes that stay visible enough, bottom to top.
    """
    if size < MIN_SIZE:
        raise ValueError(f'size must be >= {MIN_SIZE}, got {size}')
    if main_class is not None and not 0 <= main_class < len(SHAPE_CLASSES):
        raise ValueError(f'main_class must be in [0, {len(SHAPE_CLASSES)}), got {main_class}')
    rng = rng_or_seed if isinstance(rng_or_seed, np.random.Generator) else \
        np.random.default_rng(rng_or_seed)

    ground = _draw_background(size)
    if main_class is None:
        main_class = int(rng.integers(len(SHAPE_CLASSES)))
    num_secondary = int(rng.integers(1, _MAX_SECONDARY + 1))
    radius_ranges = [_SECONDARY_RADIUS] * num_secondary
    # The main shape goes to a random depth, so it occludes and is occluded.
    main_depth = int(rng.integers(num_secondary + 1))
    radius_ranges.insert(main_depth, _MAIN_RADIUS)

    specs: list[_ShapeSpec] = []
    for depth, radius_range in enumerate(radius_ranges):
        class_id = main_class if depth == main_depth else int(rng.integers(len(SHAPE_CLASSES)))
        specs.append(_sample_spec(rng, size, class_id, radius_range, ground,
                                  [s.colour for s in specs]))
    masks = [_rasterize(spec, size) for spec in specs]
    main_visible = _visible_masks(masks)[main_depth].sum()
    if main_visible < _MIN_MAIN_VISIBLE_FRACTION * masks[main_depth].sum():
        specs.append(specs.pop(main_depth))
        masks.append(masks.pop(main_depth))

    keep = _drop_hidden(masks)
    specs, masks = [specs[i] for i in keep], [masks[i] for i in keep]
    image = _paint(ground, specs, masks, rng)
    instances = tuple(ShapeInstance.from_mask(spec.class_id, visible)
                      for spec, visible in zip(specs, _visible_masks(masks)))
    return Scene(image=image, instances=instances, label=main_class)


def draw_dataset_scene(seed: int, split: str, index: int, size: int = 224) -> Scene:
    """Scene ``index`` of ``split`` exactly as :func:`write_shapes_dataset` writes it.

    Args:
        seed: Data set seed, ``>= 0``.
        split: One of ``SCENE_SPLITS``.
        index: Scene index within the split, ``>= 0``.
        size: Image side in pixels, ``>= 64``.

    Returns:
        The scene; its main shape cycles through the classes with ``index``, which balances the
        classification labels.
    """
    return draw_scene(scene_rng(seed, split, index), size, main_class=index % len(SHAPE_CLASSES))


def _encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of a uint8 array (``(H, W)`` grey or ``(H, W, 3)`` RGB)."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format='PNG')
    return buffer.getvalue()


def _encode_jpeg(image: np.ndarray) -> bytes:
    """JPEG bytes of an ``(H, W, 3)`` uint8 RGB image."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format='JPEG', quality=_JPEG_QUALITY)
    return buffer.getvalue()


def _coco_annotation(instance: ShapeInstance, ann_id: int, image_id: int) -> dict:
    """The COCO annotation of one instance, its mask as compressed RLE."""
    rle = mask_utils.encode(np.asfortranarray(instance.mask.astype(np.uint8)))
    return {'id': ann_id, 'image_id': image_id, 'category_id': instance.class_id + 1,
            'segmentation': {'size': [int(n) for n in rle['size']],
                             'counts': rle['counts'].decode('ascii')},
            'area': float(instance.area), 'bbox': [float(v) for v in instance.bbox],
            'iscrowd': 0}


def layout_paths(out_dir: str) -> dict[str, str]:
    """Where :func:`write_shapes_dataset` puts each layout and annotation file under ``out_dir``.

    Returns:
        ``cls``, ``coco`` and ``ade`` (the three data roots), ``cls_<split>_ann`` and
        ``coco_<split>_ann`` for each split, and ``manifest``.
    """
    paths = {'cls': osp.join(out_dir, 'cls'), 'coco': osp.join(out_dir, 'coco'),
             'ade': osp.join(out_dir, 'ade'), 'manifest': osp.join(out_dir, MANIFEST_NAME)}
    for split in SPLITS:
        paths[f'cls_{split}_ann'] = osp.join(paths['cls'], 'meta', f'{split}.txt')
        paths[f'coco_{split}_ann'] = osp.join(paths['coco'], 'annotations',
                                              f'instances_{split}.json')
    return paths


def _write_split(paths: dict[str, str], split: str, num: int, seed: int, size: int,
                 report: Callable[[], None]) -> None:
    """Draws the scenes of one split and writes them in all three layouts."""
    cls_lines = []
    images, annotations = [], []
    for index in range(num):
        scene = draw_dataset_scene(seed, split, index, size)
        name = f'{split}_{index:06d}'
        jpeg = _encode_jpeg(scene.image)
        label = scene.label
        cls_file = f'{SHAPE_CLASSES[label]}/{name}.jpg'
        atomic_write_bytes(osp.join(paths['cls'], split, cls_file), jpeg, durable=False)
        cls_lines.append(f'{cls_file} {label}\n')

        atomic_write_bytes(osp.join(paths['coco'], split, f'{name}.jpg'), jpeg, durable=False)
        image_id = index + 1
        images.append({'id': image_id, 'file_name': f'{name}.jpg', 'width': size,
                       'height': size})
        for instance in scene.instances:
            annotations.append(_coco_annotation(instance, len(annotations) + 1, image_id))

        ade_split = _ADE_SPLITS[split]
        atomic_write_bytes(osp.join(paths['ade'], 'images', ade_split, f'{name}.jpg'), jpeg,
                           durable=False)
        atomic_write_bytes(osp.join(paths['ade'], 'annotations', ade_split, f'{name}.png'),
                           _encode_png(scene.label_map()), durable=False)
        report()

    # Empty class folders keep CustomDataset's folder-derived class indices complete.
    for name in SHAPE_CLASSES:
        os.makedirs(osp.join(paths['cls'], split, name), exist_ok=True)
    atomic_write_bytes(paths[f'cls_{split}_ann'], ''.join(cls_lines).encode(), durable=False)
    coco = {'info': {'description': 'mmconvnextv2 synthetic shapes', 'version': GENERATOR_VERSION},
            'images': images, 'annotations': annotations,
            'categories': [{'id': i + 1, 'name': name, 'supercategory': 'shape'}
                           for i, name in enumerate(SHAPE_CLASSES)]}
    atomic_write_bytes(paths[f'coco_{split}_ann'], json.dumps(coco).encode(), durable=False)


def _progress_reporter(total: int, enabled: bool) -> Callable[[], None]:
    """A callback to call once per scene; prints a line at every 10% when ``enabled``."""
    state = {'done': 0, 'start': time.time()}

    def report() -> None:
        state['done'] += 1
        done = state['done']
        if enabled and (done * 10 // total > (done - 1) * 10 // total):
            print(f'shapes: {done}/{total} scenes ({time.time() - state["start"]:.1f} s)',
                  flush=True)
    return report


def _manifest(num_train: int, num_val: int, seed: int, size: int) -> dict:
    """What a complete output was generated with; compared by :func:`ensure_shapes_dataset`."""
    return {'generator_version': GENERATOR_VERSION, 'num_train': num_train, 'num_val': num_val,
            'seed': seed, 'size': size, 'classes': list(SHAPE_CLASSES)}


def _check_arguments(num_train: int, num_val: int, seed: int, size: int) -> None:
    """Raises ``ValueError`` for arguments that cannot make a data set."""
    if num_train < 1 or num_val < 1:
        raise ValueError(f'num_train and num_val must be >= 1, got {num_train} and {num_val}')
    if seed < 0:
        raise ValueError(f'seed must be >= 0, got {seed}')
    if size < MIN_SIZE:
        raise ValueError(f'size must be >= {MIN_SIZE}, got {size}')


def write_shapes_dataset(out_dir: str, num_train: int = DEFAULT_NUM_TRAIN,
                         num_val: int = DEFAULT_NUM_VAL, seed: int = 0,
                         size: int = 224, progress: bool = True) -> dict[str, str]:
    """Generates the scenes and writes them in the classification, COCO and ADE20K layouts.

    Existing ``cls/``, ``coco/`` and ``ade/`` folders under ``out_dir`` are replaced, so no stale
    file of an earlier run stays. The manifest is written last: its presence marks a complete run.

    Args:
        out_dir: Output folder.
        num_train: Number of training scenes, ``>= 1``.
        num_val: Number of validation scenes, ``>= 1``.
        seed: Data set seed, ``>= 0``.
        size: Image side in pixels, ``>= 64``.
        progress: Print a progress line at every 10%.

    Returns:
        The paths of :func:`layout_paths`.
    """
    _check_arguments(num_train, num_val, seed, size)
    paths = layout_paths(out_dir)
    if osp.exists(paths['manifest']):
        os.remove(paths['manifest'])
    for layout in ('cls', 'coco', 'ade'):
        shutil.rmtree(paths[layout], ignore_errors=True)

    report = _progress_reporter(num_train + num_val, progress)
    for split, num in zip(SPLITS, (num_train, num_val)):
        _write_split(paths, split, num, seed, size, report)
    manifest = _manifest(num_train, num_val, seed, size)
    os.sync()  # the scenes reach the disk before the manifest that declares them complete
    atomic_write_bytes(paths['manifest'], json.dumps(manifest, indent=2).encode())
    return paths


def _read_manifest(out_dir: str) -> dict | None:
    """The manifest of ``out_dir``, or None where there is none (or it is unreadable)."""
    try:
        with open(layout_paths(out_dir)['manifest']) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def shapes_dataset_is_complete(out_dir: str, num_train: int = DEFAULT_NUM_TRAIN,
                               num_val: int = DEFAULT_NUM_VAL,
                               seed: int = 0, size: int = 224) -> bool:
    """Whether ``out_dir`` holds a complete output generated with exactly these arguments.

    Args:
        out_dir: Output folder of :func:`write_shapes_dataset`.
        num_train: Number of training scenes.
        num_val: Number of validation scenes.
        seed: Data set seed.
        size: Image side in pixels.

    Returns:
        True when the manifest matches the arguments and the annotation files exist.
    """
    paths = layout_paths(out_dir)
    return _read_manifest(out_dir) == _manifest(num_train, num_val, seed, size) and all(
        osp.isfile(path) for key, path in paths.items() if key.endswith('_ann'))


class ShapesSettingsError(ValueError):
    """An output folder holds complete shapes scenes of other settings than those asked for."""


def _refuse_other_settings(out_dir: str, wanted: dict) -> None:
    """Raises :class:`ShapesSettingsError` if ``out_dir`` holds a manifest other than ``wanted``.

    A missing or unreadable manifest marks an unfinished run, which may be replaced.
    """
    found = _read_manifest(out_dir)
    if found is None or found == wanted:
        return
    differences = ', '.join(f'{key} {found.get(key)!r} (wanted {value!r})'
                            for key, value in wanted.items() if found.get(key) != value)
    command = (f'python tools/generate_shapes.py --out {out_dir} --num-train '
               f'{wanted["num_train"]} --num-val {wanted["num_val"]} --size {wanted["size"]} '
               f'--seed {wanted["seed"]} --force')
    raise ShapesSettingsError(f'{out_dir} holds shapes scenes of other settings: {differences}. '
                              f'Replace them with `{command}`, or choose another folder.')


@contextlib.contextmanager
def _output_lock(out_dir: str) -> Iterator[None]:
    """Holds an exclusive lock on the output folder ``out_dir`` (created if missing).

    Separate processes, e.g. the ranks of a distributed run, that find the scenes missing at the
    same time would otherwise delete each other's files while writing: with the lock, one writes
    and the others wait, then find the output complete. The lock file stays; the lock goes with
    the process that held it, however it ends.
    """
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, _LOCK_NAME), 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_shapes_dataset(out_dir: str, num_train: int = DEFAULT_NUM_TRAIN,
                          num_val: int = DEFAULT_NUM_VAL, seed: int = 0,
                          size: int = 224, progress: bool = True,
                          force: bool = False, replace_other: bool = True) -> dict[str, str]:
    """Generates the data set unless ``out_dir`` already holds it for the same arguments.

    Safe to call from several processes at once: they serialise on a lock file in ``out_dir``
    (this needs a file system with ``flock``, as local disks and NFS have), so one writes and the
    others find the output complete.

    Args:
        out_dir: Output folder.
        num_train: Number of training scenes, ``>= 1``.
        num_val: Number of validation scenes, ``>= 1``.
        seed: Data set seed, ``>= 0``.
        size: Image side in pixels, ``>= 64``.
        progress: Print what is written where, progress, and a line when generation is skipped.
        force: Regenerate even when the output is complete.
        replace_other: Replace a complete output of other arguments; when False, such an output
            raises :class:`ShapesSettingsError`, which names the command that replaces it.

    Returns:
        The paths of :func:`layout_paths`.
    """
    _check_arguments(num_train, num_val, seed, size)
    with _output_lock(out_dir):
        if not force and shapes_dataset_is_complete(out_dir, num_train, num_val, seed, size):
            if progress:
                print(f'shapes: {out_dir} is complete, not regenerated', flush=True)
            return layout_paths(out_dir)
        if not (force or replace_other):
            _refuse_other_settings(out_dir, _manifest(num_train, num_val, seed, size))
        if progress:
            print(f'shapes: writing {num_train} train + {num_val} val scenes of {size}x{size} px '
                  f'(seed {seed}) to {out_dir} (classification, COCO and ADE20K layouts)',
                  flush=True)
        return write_shapes_dataset(out_dir, num_train, num_val, seed, size, progress)
