# Fine-tuning ConvNeXt V2 on ImageNet-1K at 224x224 from its FCMAE encoder, the official recipe
# (paper appendix, facebookresearch/ConvNeXt-V2 TRAINING.md and main_finetune.py):
# AdamW (0.9, 0.999), total batch 1024, layer-wise lr decay, cosine to 1e-6 (scaled per layer),
# EMA 0.9999 (the raw and the EMA weights evaluated), mixup/cutmix, label smoothing, RandAugment
# and random erasing. No weight decay on GRN gamma/beta (official issue #15), biases and norms. The
# head is re-initialised: std 0.02 x head_init_scale 0.001 = 2e-5, zero bias, as main_finetune.py
# leaves it. Warm-up from lr 0, the last incomplete batch dropped, the lr scaled to each run's
# effective batch, as the official code; fp32 unless --amp (the official commands use AMP). Each
# difference from the official code and its reason: docs/recipes.md.
# The optimiser and schedule below are those of base and large; per-size configs set the arch,
# drop path and head width, and where the paper's table differs: lr, weight decay, layer decay,
# epochs and warm-up, label smoothing, mixup/cutmix. Start from an FCMAE checkpoint (ours or
# official) with
#   --cfg-options model.backbone.init_cfg.checkpoint=convnextv2_atto_1k_224_fcmae.pt
# The official runs used mixed precision: add --amp to tools/train.py on GPUs.
# One machine (official TRAINING.md): 8 GPUs x 32 images x 4 accumulated iterations,
#   --cfg-options optim_wrapper.accumulative_counts=4
_base_ = [
    './models/convnextv2_classifier.py',
    './datasets/imagenet_bs32_convnextv2_224.py',
    './convnextv2_in1k_runtime.py',
]

model = dict(
    backbone=dict(init_cfg=dict(type='mmconvnextv2.ConvNeXtV2Pretrained', checkpoint=None)),
    head=dict(init_std=0.02, head_init_scale=0.001),
    # One of the two per batch (timm's switch_prob 0.5); label smoothing applies to the mix.
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]))

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=6.25e-4 * 1024 / 256, weight_decay=0.05, eps=1e-8,
                   betas=(0.9, 0.999)),
    constructor='mmconvnextv2.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.6, layer_decay_mode='group'))

# Linear warm-up, then cosine to the official min_lr 1e-6, which (like the official per-layer
# lr_scale) scales with each layer's lr: eta_min_ratio = 1e-6 / lr.
param_scheduler = [
    dict(type='mmconvnextv2.LinearWarmupLR', start_factor=0.0, by_epoch=True, begin=0, end=20,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min_ratio=1e-6 / (6.25e-4 * 1024 / 256), by_epoch=True,
         begin=20, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=100)
# The lr above is for 1024 images per step (32 GPUs x 32).
auto_scale_lr = dict(base_batch_size=1024)
