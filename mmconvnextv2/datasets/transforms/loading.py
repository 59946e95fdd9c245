"""Image loading that names the file and the reason when an image cannot be read.

mmcv's ``LoadImageFromFile`` stops on a truncated or undecodable image with a bare
``AssertionError`` ('failed to load image'), on an empty file with a cv2 assertion that names no
file, and its ``ignore_empty`` skips every failure silently. On a data set of millions of files
one bad image should either stop the run with its path, or be skipped with a warning naming it.
"""
import logging

import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine.logging import print_log

from mmconvnextv2.registry import TRANSFORMS

ON_ERROR_CHOICES = ('raise', 'skip')


class UnreadableImageError(OSError):
    """An image file that is missing, empty, truncated or not an image.

    Args:
        path: The image file.
        reason: What is wrong with it.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f'Cannot load image {path}: {reason}. Replace or remove the file, or set '
            "on_error='skip' on mmconvnextv2.LoadImageFromFileChecked to skip such images in "
            'training with a warning.')
        self.path = path
        self.reason = reason


@TRANSFORMS.register_module()
class LoadImageFromFileChecked(LoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` that names the file and the reason of a failed load.

    With ``on_error='skip'`` the transform logs a warning naming the file and returns None, on
    which mmengine's ``BaseDataset`` draws another sample (at most ``max_refetch`` times). Test
    pipelines must not skip: mmengine refuses a None sample in test mode, since every test image
    has to be scored.

    Args:
        on_error: ``'raise'`` an :class:`UnreadableImageError`, or ``'skip'`` the image.
        to_float32: Return a float32 image instead of uint8.
        color_type: The ``flag`` of :func:`mmcv.imfrombytes` (``'color'``, ``'grayscale'``, ...).
        imdecode_backend: The decoder of :func:`mmcv.imfrombytes` (``'cv2'``, ``'pillow'``, ...).
        backend_args: Arguments of the mmengine file backend that reads the file.

    Raises:
        ValueError: If ``on_error`` is not one of :data:`ON_ERROR_CHOICES`.
    """

    def __init__(self, on_error: str = 'raise', to_float32: bool = False,
                 color_type: str = 'color', imdecode_backend: str = 'cv2',
                 backend_args: dict | None = None) -> None:
        if on_error not in ON_ERROR_CHOICES:
            raise ValueError(f'on_error must be one of {ON_ERROR_CHOICES}, got {on_error!r}.')
        super().__init__(to_float32=to_float32, color_type=color_type,
                         imdecode_backend=imdecode_backend, backend_args=backend_args)
        self.on_error = on_error

    def transform(self, results: dict) -> dict | None:
        """Loads ``results['img_path']`` into ``img``, ``img_shape`` and ``ori_shape``.

        Returns:
            ``results`` with the image, or None for an unreadable image with ``on_error='skip'``.

        Raises:
            UnreadableImageError: For an unreadable image with ``on_error='raise'``.
        """
        path = results['img_path']
        try:
            img = self._read(path)
        except UnreadableImageError as err:
            if self.on_error == 'raise':
                raise
            print_log(f'Skipping image {err.path}: {err.reason}.', logger='current',
                      level=logging.WARNING)
            return None
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def _read(self, path: str) -> np.ndarray:
        """The decoded image at ``path``."""
        try:
            img_bytes = fileio.get(path, backend_args=self.backend_args)
        except FileNotFoundError as err:
            raise UnreadableImageError(path, 'the file does not exist') from err
        except OSError as err:
            raise UnreadableImageError(path, f'the file cannot be read ({err})') from err
        if not img_bytes:
            raise UnreadableImageError(path, 'the file is empty')
        try:
            img = mmcv.imfrombytes(img_bytes, flag=self.color_type,
                                   backend=self.imdecode_backend)
        # Each decoder fails its own way (cv2.error, PIL's OSError, ...); all mean the same here.
        except Exception as err:
            raise UnreadableImageError(
                path, f'{self.imdecode_backend} cannot decode it ({err}), so it is truncated or '
                      'not an image') from err
        # cv2 returns None, without raising, for bytes it cannot decode.
        if img is None:
            raise UnreadableImageError(
                path, f'{self.imdecode_backend} cannot decode its {len(img_bytes)} bytes, so it '
                      'is truncated or not an image')
        return img

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(on_error='{self.on_error}', "
                f"to_float32={self.to_float32}, color_type='{self.color_type}', "
                f"imdecode_backend='{self.imdecode_backend}', backend_args={self.backend_args})")
