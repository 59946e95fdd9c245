"""FCMAE's weight initialisations: ours (std 0.02) and that of the official ``models/fcmae.py``.

``'default'``: every conv and linear layer truncated normal with std 0.02 and zero bias, norms
ones and zeros, GRN zeros, mask token truncated normal std 0.02: the initialisation of the
official ``ConvNeXtV2`` and ``SparseConvNeXtV2`` classes (and of our backbone and decoder).

``'official'``: what the official ``FCMAE.__init__`` leaves after ``self.apply(self._init_weights)``
re-initialises the sparse encoder and the decoder. timm's ``trunc_normal_`` there is called
without ``std`` for most layers, so it draws from a standard normal truncated to [-2, 2]
(std 0.880):

* encoder stem conv, depthwise convs and pointwise (MLP) layers: std 1.0, zero bias;
* encoder downsampling convs (``MinkowskiConvolution``, the only layers given ``std=.02``):
  std 0.02, zero bias;
* decoder ``proj``, depthwise conv and ``pred`` (``nn.Conv2d``): std 1.0, zero bias;
* decoder pointwise layers (``nn.Linear``, which ``_init_weights`` does not handle): PyTorch's
  default ``reset_parameters`` (Kaiming uniform, uniform bias);
* mask token: normal (not truncated) with std 0.02; norms and GRN as constructed (ones, zeros).
"""
from torch import nn

INIT_MODES = ('default', 'official')
OFFICIAL_STD = 1.0  # timm's trunc_normal_ default, bounds [-2, 2]
DOWNSAMPLE_STD = 0.02
MASK_TOKEN_STD = 0.02


def _trunc_normal_zero_bias(layer: nn.Module, std: float) -> None:
    """Truncated normal weight on [-2, 2] (absolute, as timm's), zero bias."""
    nn.init.trunc_normal_(layer.weight, std=std, a=-2.0, b=2.0)
    nn.init.zeros_(layer.bias)


def init_encoder_official(encoder: nn.Module) -> None:
    """The official re-initialisation of the encoder (a ``SparseConvNeXtV2``)."""
    downsampling = {id(layer) for stage in encoder.downsample_layers[1:] for layer in stage}
    for layer in encoder.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            std = DOWNSAMPLE_STD if id(layer) in downsampling else OFFICIAL_STD
            _trunc_normal_zero_bias(layer, std)


def init_decoder_official(decoder: nn.Module) -> None:
    """The official re-initialisation of the decoder (an ``FCMAEDecoder``)."""
    for layer in decoder.modules():
        if isinstance(layer, nn.Conv2d):
            _trunc_normal_zero_bias(layer, OFFICIAL_STD)
        elif isinstance(layer, nn.Linear):
            layer.reset_parameters()
    nn.init.normal_(decoder.mask_token, std=MASK_TOKEN_STD)
