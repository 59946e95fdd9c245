"""Random generator states in checkpoints, so a resumed run draws what the uninterrupted one
would."""
import random
from typing import Any

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook

from mmconvnextv2.registry import HOOKS

STATE_KEY = 'random_state'


def capture_random_state() -> dict[str, Any]:
    """The states of Python's, numpy's and torch's global generators (CUDA's where present)."""
    state = dict(python=random.getstate(), numpy=np.random.get_state(),
                 torch=torch.get_rng_state())
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_random_state(state: dict[str, Any]) -> None:
    """Puts back the generator states that :func:`capture_random_state` returned."""
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


def _reseed(seed: int) -> None:
    """Seeds Python's, numpy's and torch's global generators from one integer."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Saves the global random generators' states in each checkpoint and restores them on resume.

    mmengine re-seeds a resumed run but does not restore the generators, so drop path, masks,
    mixup and augmentation drawn in the main process would differ from the uninterrupted run.
    Checkpoints are written by rank 0 only, so only its states are saved: rank 0 continues
    exactly; the other ranks are re-seeded from (seed, resumed iteration, rank), which keeps them
    distinct and reproducible. Dataloader workers hold their own generators: exact continuation
    of their augmentations needs ``num_workers=0``.

    Args:
        seed: Base of the other ranks' re-seeding; defaults to the runner's seed.
    """

    priority = 'VERY_LOW'

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[STATE_KEY] = capture_random_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if STATE_KEY not in checkpoint:
            runner.logger.warning(
                f'The checkpoint has no {STATE_KEY!r} entry (it was not saved with '
                'RandomStateHook): the resumed run draws other random numbers than an '
                'uninterrupted one would.')
            return
        rank = get_rank()
        if rank == 0:
            restore_random_state(checkpoint[STATE_KEY])
            return
        seed = runner.seed if self.seed is None else self.seed
        iteration = checkpoint.get('meta', {}).get('iter', 0)
        _reseed(int(np.random.SeedSequence([seed, iteration, rank]).generate_state(1)[0]))
