# ConvNeXt V2-Tiny (FCMAE pre-trained, IN-1K fine-tuned) + UperNet on ADE20K 512x512, 160k
# iterations, batch 16 (8 GPUs x 2).
_base_ = './_base_/upernet_convnextv2_8xb2-160k_ade20k-512x512.py'

model = dict(
    backbone=dict(
        arch='tiny',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint='checkpoints/convnextv2-tiny_in1k.pth')),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))
optim_wrapper = dict(
    optimizer=dict(lr=1e-4),
    paramwise_cfg=dict(layer_decay_rate=0.9, layer_decay_mode='single'))
