# The runtime of the ImageNet-1K classification recipes (fine-tuning from FCMAE, IN-22K -> IN-1K
# fine-tuning, training from scratch), as the official main_finetune.py runs them: mmpretrain's
# default runtime, with validation after every epoch; an EMA of the weights (0.9999) updated once
# per optimizer step, validation evaluating the EMA and the raw weights; checkpoints written
# atomically, the last three kept, with the generators' states, so a killed run resumes exactly;
# the lr rescaled to each run's effective batch (processes x batch x accumulation), as the
# official lr = blr x eff_batch / 256. Each recipe sets its epochs (train_cfg.max_epochs) and the
# batch its lr is given for (auto_scale_lr.base_batch_size).
_base_ = 'mmpretrain::_base_/default_runtime.py'

train_cfg = dict(by_epoch=True, val_interval=1)
val_cfg = dict()
test_cfg = dict()

custom_hooks = [
    dict(type='mmconvnextv2.OptimStepEMAHook', momentum=1e-4, evaluate_on_origin=True,
         priority='ABOVE_NORMAL'),
    dict(type='mmconvnextv2.RandomStateHook'),
]
default_hooks = dict(
    checkpoint=dict(type='mmconvnextv2.AtomicCheckpointHook', interval=1, max_keep_ckpts=3))
auto_scale_lr = dict(enable=True)
