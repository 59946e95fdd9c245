# IN-1K fine-tuning of ConvNeXt V2 after IN-22K intermediate fine-tuning (paper appendix): AdamW,
# base lr 2.5e-5 x batch / 256, weight decay 1e-8, 30 epochs (base, large, huge) or 90 (nano,
# tiny), EMA 0.9999 (the released *_22k_*_ema.pt; the raw and the EMA weights evaluated, updated
# once per optimizer step). The values the paper does not list are
# ConvNeXt V1's IN-22K -> IN-1K recipe: total batch 512, no warm-up, label smoothing 0.1,
# mixup 0.8 / cutmix 1.0; and the layer decay of the IN-22K stage. Per-size configs add the
# data set at 224, 384 or 512 pixels. Start from the IN-22K run's checkpoint (its 21,841-class
# head is left out and re-initialised) with --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = [
    './models/convnextv2_classifier.py',
    './convnextv2_in1k_runtime.py',
]

model = dict(
    backbone=dict(init_cfg=dict(type='mmconvnextv2.ConvNeXtV2Pretrained', checkpoint=None)),
    head=dict(init_std=0.02, head_init_scale=0.001),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]))

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2.5e-5 * 512 / 256, weight_decay=1e-8, eps=1e-8,
                   betas=(0.9, 0.999)),
    constructor='mmconvnextv2.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.8, layer_decay_mode='group'))
param_scheduler = [
    dict(type='CosineAnnealingLR', eta_min_ratio=1e-6 / (2.5e-5 * 512 / 256), by_epoch=True,
         begin=0, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=30)
# The lr above is for 512 images per step.
auto_scale_lr = dict(base_batch_size=512)
