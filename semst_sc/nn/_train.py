"""One training loop for every encoder and sampler, on one process or across a ``torchrun`` job."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Protocol

import torch
from tqdm.auto import tqdm

from ._data import Batch
from ._distributed import average_terms, process_group
from ._encoder import SpotEncoder


class Sampler(Protocol):
    """What :func:`train` draws batches from (:class:`~semst_sc.nn.FullBatchSampler`, ``NeighbourSampler``)."""

    def sample(self) -> Batch:
        """Return the next step's batch, on the model's device."""
        ...

    def everything(self) -> Batch:
        """Return the whole tissue as one batch."""
        ...


def train(
    model: SpotEncoder,
    sampler: Sampler,
    *,
    n_steps: int,
    lr: float = 1e-3,
    weight_decay: float = 5e-4,
    average_from: float | None = None,
    progress: bool = True,
) -> dict[str, list[float]]:
    """Train ``model`` with Adam for a fixed number of steps on the sampler's batches; labels never enter.

    Inside an initialised ``torch.distributed`` process group (e.g. under ``torchrun``) the model is wrapped in
    :class:`~torch.nn.parallel.DistributedDataParallel`, which averages the gradients: each process draws its share
    of every step's spots. Torch's deterministic kernels are used (CPU scatter-adds otherwise vary run to run), and
    denormal floats are flushed to zero (``flush_denormals``).

    Parameters
    ----------
    model
        The encoder, on the sampler's device.
    sampler
        Where the batches come from.
    n_steps
        Optimiser steps.
    lr, weight_decay
        Adam settings.
    average_from
        Leave the model with its parameters averaged over the steps from this share of ``n_steps`` on (stochastic
        weight averaging, torch's :class:`~torch.optim.swa_utils.AveragedModel`), e.g. 0.5 for the second half;
        ``None``: the last step's parameters. Buffers (the ZINB decoder's batch-norm statistics, used in training
        only) stay the last step's.
    progress
        Show a progress bar (on the first process only).

    Returns
    -------
    Per-step values of the total and of each loss term (averaged over the processes).

    Raises
    ------
    FloatingPointError
        When training diverges: a step's loss, or the parameters after it, not finite.
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be positive, got {n_steps}")
    if average_from is not None and not 0 <= average_from < 1:
        raise ValueError(f"average_from must be in [0, 1) or None, got {average_from}")
    rank, world_size = process_group()
    forward = model
    if world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        device = next(model.parameters()).device
        forward = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history: dict[str, list[float]] = {}
    first_averaged = n_steps if average_from is None else int(average_from * n_steps)
    averaged = None
    model.train()
    with deterministic(), flush_denormals():
        for step in tqdm(range(n_steps), desc=f"training {type(model).__name__}", disable=not progress or rank != 0):
            try:
                terms = forward(sampler.sample())
            except RuntimeError as error:  # a loss refusing non-finite scores (binary cross-entropy) after a bad step
                if all(bool(torch.isfinite(p).all()) for p in model.parameters()):
                    raise
                raise _diverged(step, lr) from error
            if not bool(torch.isfinite(terms["total"])):
                raise _diverged(step, lr)
            optimizer.zero_grad()
            terms["total"].backward()
            optimizer.step()
            if step >= first_averaged:
                if averaged is None:
                    averaged = torch.optim.swa_utils.AveragedModel(model)  # a copy of the model
                averaged.update_parameters(model)  # the running mean of the parameters (the first call copies)
            ordered = {"total": terms["total"], **{k: v for k, v in terms.items() if k != "total"}}
            for key, value in average_terms(ordered).items():
                history.setdefault(key, []).append(value)
    if averaged is not None:
        with torch.no_grad():
            for own, mean in zip(model.parameters(), averaged.module.parameters(), strict=True):
                own.copy_(mean)
    model.eval()
    return history


def _diverged(step: int, lr: float) -> FloatingPointError:
    return FloatingPointError(
        f"training diverged at step {step + 1} (non-finite loss or parameters): lower the learning rate, now {lr} "
        "(sst.tl.semst: train_kwargs={'lr': ...})"
    )


@torch.no_grad()
def embed(model: SpotEncoder, sampler: Sampler, *, chunk_size: int = 65_536) -> torch.Tensor:
    """Return the embedding of every spot of a trained model (eval mode, whole graphs, no autograd).

    Parameters
    ----------
    model
        The trained encoder.
    sampler
        The sampler it was trained with: its ``everything()`` batch is embedded.
    chunk_size
        Spots fused at a time (memory stays bounded at millions of spots).
    """
    model.eval()
    with deterministic(), flush_denormals():
        return model.embed(sampler.everything(), chunk_size=chunk_size)


@contextmanager
def deterministic():
    """Use torch's deterministic kernels inside the block (restoring the previous settings after)."""
    settings = torch.utils.deterministic
    previous = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        settings.fill_uninitialized_memory,
    )
    torch.use_deterministic_algorithms(True, warn_only=True)
    settings.fill_uninitialized_memory = False  # filling every new tensor with NaN costs 3x
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        settings.fill_uninitialized_memory = previous[2]


@contextmanager
def flush_denormals():
    """Flush denormal floats (below about 1e-38) to zero inside the block; torch's default, off, is set again after.

    Gradients that shrink towards zero (the FSM's last layer starts at zero) pass through the denormal range, where
    CPU arithmetic is many times slower: one of the FSM's matrix products took 7x longer on 5,000 cells. Values that
    small are zero to any result (the same domains on DLPFC, osmFISH and BaristaSeq; their times within the runs'
    spread, docs/method.md).
    """
    supported = torch.set_flush_denormal(True)  # False where the CPU cannot (no SSE3): nothing changed
    try:
        yield
    finally:
        if supported:
            torch.set_flush_denormal(False)
