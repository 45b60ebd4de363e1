"""Data-parallel training across processes and machines with ``torch.distributed``, as launched by ``torchrun``.

Every process runs the same program on the same data; :func:`~semst_sc.nn.train` with a
:class:`~semst_sc.nn.NeighbourSampler` gives each its share of every step's seeds and
:class:`~torch.nn.parallel.DistributedDataParallel` averages the gradients. The first process (rank 0) embeds the cells
and shares the result with the others.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

#: environment variables ``torchrun`` sets that the process group is created from
TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def process_group() -> tuple[int, int]:
    """Return ``(rank, world_size)`` of the initialised process group, ``(0, 1)`` outside one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


@contextmanager
def distributed_session(device: str = "auto") -> Iterator[torch.device]:
    """Join the process group of this ``torchrun`` job for the duration of the block; yields this process's device.

    An initialised process group is used as is. Otherwise one is created from the environment ``torchrun`` sets
    (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``), with the ``nccl`` backend on GPUs (one per
    process, ``cuda:LOCAL_RANK``) and ``gloo`` on CPUs, and destroyed when the block ends.

    Parameters
    ----------
    device
        ``"auto"`` (a GPU per process when available), ``"cpu"`` or ``"cuda"``.
    """
    import torch.distributed as dist

    check_process_group()
    create = not dist.is_initialized()
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        if dev.index is None:
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(dev)
    if create:
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    try:
        yield dev
    finally:
        if create:
            dist.destroy_process_group()


def check_process_group() -> None:
    """Raise a clear error unless a process group is initialised or ``torchrun``'s environment can create one."""
    import torch.distributed as dist

    if not dist.is_available():
        raise RuntimeError("this torch build has no torch.distributed: install a standard torch wheel")
    missing = [name for name in TORCHRUN_ENV if name not in os.environ]
    if not dist.is_initialized() and missing:
        raise RuntimeError(
            f"distributed training runs under torchrun ({', '.join(missing)} not set): launch with "
            "`torchrun --nproc-per-node N script.py` or `torchrun --nproc-per-node N -m semst_sc train ...`"
        )


def average_terms(terms: dict[str, torch.Tensor]) -> dict[str, float]:
    """Average scalar loss terms over the processes (one all-reduce); plain floats outside a process group."""
    import torch.distributed as dist

    values = torch.stack([value.detach().float() for value in terms.values()])
    _, world_size = process_group()
    if world_size > 1:
        dist.all_reduce(values)
        values /= world_size
    return dict(zip(terms, values.tolist(), strict=True))


def share_from_first(tensor: torch.Tensor | None, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """Send rank 0's ``tensor`` (float32, ``shape``) to every process; the others pass ``None``."""
    import torch.distributed as dist

    rank, world_size = process_group()
    if world_size == 1:
        return tensor
    if rank != 0:
        tensor = torch.empty(shape, dtype=torch.float32, device=device)
    tensor = tensor.contiguous()
    dist.broadcast(tensor, src=0)
    return tensor
