# IN-22K intermediate fine-tuning of ConvNeXt V2 from its FCMAE encoder, at 224x224 (paper
# appendix): AdamW, base lr 2.5e-4 x 4096 / 256, total batch 4096, 90 epochs, layer decay 0.8
# (base, large, huge; 12 groups) or 0.9 (nano, tiny; one id per block), no EMA. The values the
# paper does not list are ConvNeXt V1's IN-22K recipe: 5 warm-up epochs, weight decay 0.05,
# label smoothing 0.1, mixup 0.8 / cutmix 1.0, and the IN-1K fine-tuning drop path of each size.
# The head (21,841 classes) is re-initialised as in IN-1K fine-tuning. Start from an FCMAE
# checkpoint with --cfg-options model.backbone.init_cfg.checkpoint=PATH. Warm-up from lr 0, last
# incomplete batch dropped, lr scaled to each run's effective batch (docs/recipes.md).
_base_ = [
    './models/convnextv2_classifier.py',
    './datasets/imagenet21k_bs128_convnextv2_224.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(
    backbone=dict(init_cfg=dict(type='mmconvnextv2.ConvNeXtV2Pretrained', checkpoint=None)),
    head=dict(num_classes=21841, init_std=0.02, head_init_scale=0.001),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]))

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2.5e-4 * 4096 / 256, weight_decay=0.05, eps=1e-8,
                   betas=(0.9, 0.999)),
    constructor='mmconvnextv2.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.8, layer_decay_mode='group'))
param_scheduler = [
    dict(type='mmconvnextv2.LinearWarmupLR', start_factor=0.0, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min_ratio=1e-6 / (2.5e-4 * 4096 / 256), by_epoch=True,
         begin=5, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=90)
val_cfg = None
test_cfg = None

custom_hooks = [dict(type='mmconvnextv2.RandomStateHook')]
default_hooks = dict(
    checkpoint=dict(type='mmconvnextv2.AtomicCheckpointHook', interval=1, max_keep_ckpts=3))
# Rescaled to each run's effective batch (processes x batch x accumulation).
auto_scale_lr = dict(base_batch_size=4096, enable=True)
