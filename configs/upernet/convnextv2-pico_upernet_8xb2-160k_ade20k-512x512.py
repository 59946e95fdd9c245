# ConvNeXt V2-Pico (FCMAE pre-trained, IN-1K fine-tuned) + UperNet on ADE20K 512x512, 160k
# iterations, batch 16 (8 GPUs x 2).
_base_ = './_base_/upernet_convnextv2_8xb2-160k_ade20k-512x512.py'

model = dict(
    backbone=dict(
        arch='pico',
        drop_path_rate=0.1,
        init_cfg=dict(checkpoint='checkpoints/convnextv2-pico_in1k.pth')),
    decode_head=dict(in_channels=[64, 128, 256, 512]),
    auxiliary_head=dict(in_channels=256))
optim_wrapper = dict(
    optimizer=dict(lr=2e-4),
    paramwise_cfg=dict(layer_decay_rate=0.9, layer_decay_mode='single'))
