"""Hugging Face decoder LLMs (e.g. Qwen3) read in one forward pass, mean-pooled over their last hidden state."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .. import _constants as C
from .._settings import settings
from ._hub import placement, quiet_load

_MAX_TOKENS = 1024
POOLINGS = ("mean", "genes")


class DecoderEncoder:
    """A Hugging Face decoder LLM (e.g. Qwen3), loaded on first use and read in one forward pass per batch.

    A text's vector is the mean of the last hidden state over its tokens; batches are padded on the right, so a
    text's vector does not depend on the batch it is in.

    Parameters
    ----------
    name
        Hub name or local folder of the model, recorded in ``uns``.
    folder
        Local folder holding ``config.json``, the tokenizer and the weights (``None``: load ``name`` from the
        Hugging Face cache or hub).
    revision
        Fingerprint of the weights and configuration; ``""`` when unknown, and then the vectors are not cached.
    pooling
        ``"mean"``: over all non-padding tokens (the paper); ``"genes"``: over the tokens after
        ``"Highly expressed genes:"`` (all tokens when a text has no such part; needs a fast tokenizer).
    trust_remote_code
        Let the model run its own code (off unless asked).
    device
        Torch device (bfloat16 on a GPU); ``None`` reads :attr:`semst_sc.settings.device`. Resolved when the
        weights load.
    progress
        Show the weight-loading progress bars; ``None`` reads :attr:`semst_sc.settings.progress`.
    """

    backend = "hf"

    def __init__(
        self,
        name: str,
        *,
        folder: str | Path | None = None,
        revision: str = "",
        pooling: str = "mean",
        trust_remote_code: bool = False,
        device: str | None = None,
        progress: bool | None = None,
    ):
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be 'mean' or 'genes', got {pooling!r}")
        self.name = name
        self.folder = None if folder is None else Path(folder)
        self.revision = revision
        self.pooling = pooling
        self.trust_remote_code = trust_remote_code
        self.device = device
        self.progress = progress
        self._model = None
        self.tokenizer = None

    @property
    def identity(self) -> str | None:
        """Cache key: the name, the weights fingerprint, the pooling and where it runs (``None`` without a fingerprint).

        A GPU runs the model in bfloat16, the CPU in float32 on so many threads: a cache filled elsewhere is not read.
        """
        if not self.revision:
            return None
        return f"hf:{self.name}@{self.revision}:{self.pooling}:{placement(self.device)}"

    @property
    def model(self):
        """The ``transformers`` base model (``AutoModel``, eval mode), loaded with its tokenizer on first use."""
        if self._model is None:
            args = (self.name, self.folder, self.device, self.pooling, self.trust_remote_code)
            self._model, self.tokenizer = quiet_load(self.progress, _load_decoder, *args)
        return self._model

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Embed ``texts``.

        Parameters
        ----------
        texts
            The texts (truncated at 1024 tokens).
        batch_size
            Texts per forward pass; texts of similar length share a batch.
        progress
            Show a progress bar.

        Returns
        -------
        A float32 array, one row per text (``len(texts) x hidden size``).
        """
        import torch

        texts = list(texts)
        device = next(self.model.parameters()).device  # loads the model and tokenizer
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths share a batch: less padding
        out = np.empty((len(texts), self.model.config.hidden_size), dtype=np.float32)
        for start in tqdm(range(0, len(texts), batch_size), disable=not progress, desc="embedding"):
            rows = order[start : start + batch_size]
            batch = [texts[i] for i in rows]
            enc = self.tokenizer(
                batch,
                padding=True,
                truncation=True,
                max_length=_MAX_TOKENS,
                return_tensors="pt",
                return_offsets_mapping=self.pooling == "genes",
            )
            mask = enc["attention_mask"].bool()
            if self.pooling == "genes":
                marker = C.GENES_MARKER
                starts = [t.find(marker) + len(marker) if marker in t else 0 for t in batch]
                mask &= enc["offset_mapping"][..., 0] >= torch.tensor(starts)[:, None]
            with torch.inference_mode(), settings.torch_threads():  # the threads asked for, as the sentence model
                hidden = self.model(
                    input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device)
                ).last_hidden_state.float()
            m = mask.to(device)[..., None].float()
            out[rows] = ((hidden * m).sum(1) / m.sum(1).clamp(min=1)).cpu().numpy()
        return out

    def __repr__(self) -> str:
        return f"DecoderEncoder({self.name!r}, revision={self.revision!r}, pooling={self.pooling!r})"


def _load_decoder(name: str, folder: Path | None, device: str | None, pooling: str, trust_remote_code: bool):
    """Return the ``AutoModel`` (eval mode, on ``device``; bfloat16 on a GPU) and its right-padding tokenizer."""
    device = settings.resolve_device(device)
    import torch
    from transformers import AutoModel, AutoTokenizer

    source = str(folder or name)
    dtype = torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
        model = AutoModel.from_pretrained(source, dtype=dtype, trust_remote_code=trust_remote_code)
    except Exception as error:  # noqa: BLE001
        raise ValueError(
            f"cannot load the decoder model {name!r} with transformers ({type(error).__name__}: {error}); pass a "
            "local folder with config.json, tokenizer and weights (offline: HF_HUB_OFFLINE=1 needs it in the local "
            "cache), or trust_remote_code=True if the model ships its own code and you trust it"
        ) from None
    if not getattr(tokenizer, "is_fast", False) and pooling == "genes":
        raise ValueError(f"pooling='genes' needs a fast tokenizer (offsets); {name!r} has a slow one: use 'mean'")
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"the tokenizer of {name!r} has neither a pad nor an eos token to pad batches with")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"  # positions 0..n-1 for every text, whatever the batch
    return model.eval().to(device), tokenizer
