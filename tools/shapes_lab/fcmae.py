"""FCMAE on the shapes: held-out scenes, the held-out loss under seeded masks, and a trained
model with its decoder."""
import torch
from mmengine.registry import MODELS, DefaultScope

from mmconvnextv2.datasets import ShapesClsDataset
from mmconvnextv2.utils import load_config
from mmconvnextv2.utils.checkpoint import load_source


def val_scene_images(num_scenes: int, size: int) -> torch.Tensor:
    """The first ``num_scenes`` validation scenes as a (N, 3, size, size) uint8 BGR batch."""
    dataset = ShapesClsDataset(num_scenes, 'val', size=size, with_label=False, pipeline=[])
    return torch.stack([torch.from_numpy(dataset.get_data_info(i)['img']).permute(2, 0, 1)
                        for i in range(num_scenes)])


@torch.no_grad()
def fcmae_val_loss(model: torch.nn.Module, raw_images: torch.Tensor,
                   seed: int = 0) -> dict[str, float]:
    """FCMAE's loss on held-out images under seeded masks, beside a constant prediction's.

    Args:
        model: An :class:`~mmconvnextv2.models.FCMAE`.
        raw_images: (N, 3, H, W) uint8 BGR images (:func:`val_scene_images`).
        seed: Seed of the masks: the same images and seed give every model the same masks.

    Returns:
        ``val_loss``, and ``val_loss_patch_mean``: the loss of predicting each removed patch's
        own mean (zero in the normalised target), the loss a model that learned nothing gets.
    """
    was_training = model.training
    model.eval()
    images = model.data_preprocessor(dict(inputs=raw_images.float(), data_samples=None))['inputs']
    mask = model.draw_mask(images, generator=torch.Generator().manual_seed(seed))
    pred = model.reconstruct(images, mask)
    model.train(was_training)
    return {'val_loss': float(model.head.loss(pred, images, mask)),
            'val_loss_patch_mean': float(model.head.loss(torch.zeros_like(pred), images, mask))}


def load_fcmae(config: str, checkpoint: str) -> torch.nn.Module:
    """The FCMAE model of ``config`` with every weight of ``checkpoint`` (encoder and decoder).

    Raises:
        RuntimeError: If the checkpoint lacks weights of the model (an exported encoder has no
            decoder: it cannot reconstruct).
    """
    cfg = load_config(config)
    cfg.model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmpretrain')):
        model = MODELS.build(cfg.model)
    model.load_state_dict(load_source(checkpoint), strict=True)
    return model.eval()
