# The plain recipe of convnextv2-atto_shapes.py at lr 3e-4 instead of 1e-3: the lr that suits a
# pre-trained start. At 60 labelled scenes (300 steps of 32, 3 seeds), fine-tuning from the zoo's
# FCMAE V2 encoder reaches 29.1 % top-1 at lr 3e-4 against 26.8 % at 1e-3; from scratch, 24.2 %
# at both (tools/analysis/finetune_study.py, arms *_lr3e-4 and *_plain; docs/results.md).
_base_ = './convnextv2-atto_shapes.py'

optim_wrapper = dict(optimizer=dict(lr=3e-4))
