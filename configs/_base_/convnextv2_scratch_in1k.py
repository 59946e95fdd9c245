# Supervised ConvNeXt V2 on ImageNet-1K from random initialisation at 224x224: the paper's
# "V2 supervised" row. The paper gives this row's results, not its recipe; this is the ConvNeXt V1
# ImageNet-1K recipe (Liu et al. 2022): AdamW lr 4e-3 for a total batch of 4096, weight decay 0.05,
# 300 epochs with 20 of linear warm-up then cosine to 1e-6, RandAugment, random erasing 0.25,
# mixup 0.8 / cutmix 1.0, label smoothing 0.1, EMA 0.9999, head_init_scale 1. No layer decay, and
# the fine-tuning's no-decay rule (GRN, norms, biases). Per-size configs set arch, drop path, head.
_base_ = [
    './models/convnextv2_classifier.py',
    './datasets/imagenet_bs32_convnextv2_224.py',
    './convnextv2_in1k_runtime.py',
]

model = dict(
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]))
# 128 images per GPU: 32 GPUs make 4096.
train_dataloader = dict(batch_size=128)

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=4e-3, weight_decay=0.05, eps=1e-8, betas=(0.9, 0.999)),
    constructor='mmconvnextv2.LayerDecayOptimWrapperConstructor',
    # Rate 1: one lr for every layer.
    paramwise_cfg=dict(layer_decay_rate=1.0))
param_scheduler = [
    dict(type='mmconvnextv2.LinearWarmupLR', start_factor=0.0, by_epoch=True, begin=0, end=20,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min_ratio=1e-6 / 4e-3, by_epoch=True, begin=20,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=300)
# The lr above is for 4096 images per step (32 GPUs x 128).
auto_scale_lr = dict(base_batch_size=4096)
