"""The official learning-rate rule with gradient accumulation: lr = base lr x effective batch."""
from mmengine.config import Config
from mmengine.logging import print_log


def count_accumulation_in_lr_scaling(cfg: Config) -> None:
    """Makes mmengine's ``auto_scale_lr`` scale by the effective batch, accumulation included.

    The official ``main_pretrain.py`` and ``main_finetune.py`` set ``lr = blr * eff_batch / 256``
    with ``eff_batch = batch per GPU * update_freq * GPUs``. mmengine's ``Runner.scale_lr``
    multiplies the config's lr by ``GPUs * batch per GPU / auto_scale_lr.base_batch_size`` and
    leaves out gradient accumulation (``optim_wrapper.accumulative_counts``), so 8 GPUs x 32
    images x 4 accumulated steps would get a quarter of the lr of 32 GPUs x 32 images, although
    both update the weights with gradients of 1024 images. Dividing ``base_batch_size`` by the
    accumulation count makes mmengine's ratio ``GPUs * batch * counts / base_batch_size``.

    Does nothing when lr scaling is off or nothing is accumulated.

    Args:
        cfg: The config, changed in place.

    Raises:
        ValueError: If ``accumulative_counts`` is not a positive integer.
    """
    auto_scale_lr = cfg.get('auto_scale_lr')
    if not auto_scale_lr or not auto_scale_lr.get('enable', False):
        return
    counts = cfg.optim_wrapper.get('accumulative_counts', 1)
    if not isinstance(counts, int) or counts < 1:
        raise ValueError(f'optim_wrapper.accumulative_counts must be a positive integer, got '
                         f'{counts!r}')
    if counts == 1:
        return
    base = auto_scale_lr.base_batch_size
    auto_scale_lr.base_batch_size = base / counts
    print_log(f'Gradient accumulation over {counts} iterations: the lr follows the effective '
              f'batch (processes x batch x {counts}), so auto_scale_lr.base_batch_size {base} '
              f'becomes {base / counts:g} images per iteration.', logger='current')
