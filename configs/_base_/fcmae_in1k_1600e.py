# The FCMAE recipe of fcmae_in1k.py with the paper's longer schedule: 1600 epochs, 40 warm-up.
_base_ = './fcmae_in1k.py'

param_scheduler = [
    dict(type='mmconvnextv2.LinearWarmupLR', start_factor=0.0, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=1560, eta_min=0.0, by_epoch=True, begin=40, end=1600,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=1600)
