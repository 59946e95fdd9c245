"""EMA of the weights updated once per optimizer step, as the official ConvNeXt V2 fine-tuning."""

from mmengine.optim import OptimWrapperDict
from mmpretrain.engine.hooks import EMAHook

from mmconvnextv2.registry import HOOKS


@HOOKS.register_module()
class OptimStepEMAHook(EMAHook):
    """mmpretrain's ``EMAHook``, updated only in the iterations where the optimizer steps.

    mmpretrain's hook updates the average after every iteration. With gradient accumulation
    (``optim_wrapper.accumulative_counts=n``) the weights change once every ``n`` iterations, so
    the per-iteration average would take ``n`` updates per weight change and decay ``n`` times too
    fast. The official ``engine_finetune.py`` updates timm's ``ModelEma`` right after each
    ``optimizer.step()``; so does this hook. Its average also starts from the weights training
    starts from (after initialisation or loading, as timm's ``ModelEma`` is built from the loaded
    model), so the first step already averages: ``ema = (1 - momentum) * start + momentum * w1``;
    mmengine's averaged model would copy ``w1`` at its first update instead.

    Without accumulation it differs from mmpretrain's hook only in that first update. Takes the
    same arguments (``momentum``, ``evaluate_on_origin``, ...). Needs a single
    :class:`~mmengine.optim.OptimWrapper` (not an ``OptimWrapperDict``): its ``should_update()``
    says whether the iteration stepped.
    """

    def before_train(self, runner) -> None:
        if isinstance(runner.optim_wrapper, OptimWrapperDict):
            raise TypeError('OptimStepEMAHook follows the steps of one OptimWrapper; this run has '
                            'an OptimWrapperDict (several optimizers). Use mmpretrain.EMAHook.')
        super().before_train(runner)
        # A fresh average (nothing resumed) starts from the weights training starts from: the
        # averaged model's first update copies them.
        if int(self.ema_model.steps) == 0:
            self.ema_model.update_parameters(self.src_model)

    def after_train_iter(self, runner, batch_idx: int, data_batch: dict | None = None,
                         outputs: dict | None = None) -> None:
        # After update_params, should_update() tells whether this iteration's backward stepped.
        if runner.optim_wrapper.should_update():
            super().after_train_iter(runner, batch_idx, data_batch, outputs)
