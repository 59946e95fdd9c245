# The plain recipe of convnextv2-atto_shapes.py at lr 3e-4 instead of 1e-3: the lr that suits a
# pre-trained start. At 60 labelled scenes (300 steps of 32, seed 0), fine-tuning from the zoo's
# FCMAE V2 encoder reached 27.5 / 31.2 / 27.5 % top-1 at lr 1e-3 / 3e-4 / 1e-4; training from
# scratch gave 24.5 / 23.3 % at lr 1e-3 / 3e-4 (over 3 seeds, 24.2 % at both). See the study,
# tools/analysis/finetune_study.py, in docs/results.md.
_base_ = 'mmconvnextv2::convnextv2/convnextv2-atto_shapes.py'

optim_wrapper = dict(optimizer=dict(lr=3e-4))
