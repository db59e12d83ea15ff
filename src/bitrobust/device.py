"""Where tensors live and how processes share work: device names and ``torch.distributed``.

``resolve_device("auto")`` picks CUDA when present, else the CPU. Under ``torchrun``
(``WORLD_SIZE`` > 1) :func:`init_distributed` starts the process group (NCCL on GPUs,
gloo on CPUs); training averages gradients across ranks and evaluation splits chips.
"""

from __future__ import annotations

import itertools
import os

import torch

from bitrobust.errors import BitrobustError


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> ``cuda`` if available, else ``cpu``; any other torch device name as given.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise BitrobustError(f"device {name!r} requested but CUDA is not available")
    try:
        return torch.device(name)
    except (RuntimeError, ValueError):
        raise BitrobustError(f"unknown device {name!r}; valid: auto, cpu, cuda, cuda:N, mps") from None


def model_device(model: torch.nn.Module) -> torch.device:
    """Where ``model``'s parameters (or buffers) live; the CPU for a model without tensors.

    >>> model_device(torch.nn.Linear(2, 2))
    device(type='cpu')
    """
    for t in itertools.chain(model.parameters(), model.buffers()):
        return t.device
    return torch.device("cpu")


def local_device(name: str) -> torch.device:
    """:func:`resolve_device`, and under torchrun a bare ``cuda`` becomes this process's GPU (``LOCAL_RANK``).

    >>> local_device("cpu")
    device(type='cpu')
    """
    device = resolve_device(name)
    if device.type == "cuda" and device.index is None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def is_main_process() -> bool:
    """True unless this is a rank other than 0 of an initialized process group (only rank 0 writes files)."""
    return not (torch.distributed.is_available() and torch.distributed.is_initialized()) or torch.distributed.get_rank() == 0


def init_distributed(device: torch.device) -> tuple[int, int]:
    """(rank, world size); initializes the process group under torchrun.

    >>> init_distributed(torch.device("cpu"))  # not launched by torchrun
    (0, 1)
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return torch.distributed.get_rank(), torch.distributed.get_world_size()
