"""The eight ConvNeXt V2 sizes of the paper, atto to huge: depths and channels per stage.

A leaf module with no imports of the package, so that the backbone and the checkpoint converters
(which the backbone's ``ConvNeXtV2Pretrained`` initialiser uses) both read the one table without
importing each other.
"""
NUM_STAGES = 4

ARCH_SETTINGS: dict[str, dict[str, list[int]]] = {
    'atto': dict(depths=[2, 2, 6, 2], channels=[40, 80, 160, 320]),
    'femto': dict(depths=[2, 2, 6, 2], channels=[48, 96, 192, 384]),
    'pico': dict(depths=[2, 2, 6, 2], channels=[64, 128, 256, 512]),
    'nano': dict(depths=[2, 2, 8, 2], channels=[80, 160, 320, 640]),
    'tiny': dict(depths=[3, 3, 9, 3], channels=[96, 192, 384, 768]),
    'base': dict(depths=[3, 3, 27, 3], channels=[128, 256, 512, 1024]),
    'large': dict(depths=[3, 3, 27, 3], channels=[192, 384, 768, 1536]),
    'huge': dict(depths=[3, 3, 27, 3], channels=[352, 704, 1408, 2816]),
}

# A size: a name of ARCH_SETTINGS or a dict with the depths and channels of the four stages.
Arch = str | dict[str, list[int]]


def resolve_arch(arch: Arch) -> dict[str, list[int]]:
    """The depths and channels of ``arch``, as new lists.

    Raises:
        ValueError: For an unknown name, or a dict without exactly ``depths`` and ``channels`` of
            four entries each.
    """
    if isinstance(arch, str):
        if arch not in ARCH_SETTINGS:
            raise ValueError(f'Unknown ConvNeXtV2 arch {arch!r}; choose one of '
                             f'{sorted(ARCH_SETTINGS)} or pass a dict with depths and channels.')
        arch = ARCH_SETTINGS[arch]
    elif not isinstance(arch, dict) or set(arch) != {'depths', 'channels'}:
        raise ValueError(f'A custom ConvNeXtV2 arch must be a dict with exactly the keys '
                         f"'depths' and 'channels', got {arch!r}")
    elif len(arch['depths']) != NUM_STAGES or len(arch['channels']) != NUM_STAGES:
        raise ValueError(f'A custom ConvNeXtV2 arch needs {NUM_STAGES} depths and {NUM_STAGES} '
                         f'channels, got {arch!r}')
    return {'depths': list(arch['depths']), 'channels': list(arch['channels'])}


def arch_name(depths: list[int], channels: list[int]) -> str | None:
    """The name of the size with these depths and channels, None for a custom size."""
    setting = dict(depths=list(depths), channels=list(channels))
    return next((name for name, known in ARCH_SETTINGS.items() if known == setting), None)
