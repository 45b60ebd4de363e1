from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._utils import check_integer, check_number
from ._data import Batch
from ._encoder import SpotEncoder
from ._fsm import FSM
from ._gcn import convolve, propagate


class ContrastiveGCN(SpotEncoder):
    """A GraphST-style graph contrastive autoencoder on the spatial graph, with an optional FSM.

    Registered as ``"contrastive"``. One graph convolution encodes the spots, the FSM (when semantic vectors are
    given) modulates that representation, and a second graph convolution reconstructs the encoder input from it.
    As in GraphST, the embedding to cluster is that spatially decoded reconstruction, not the latent
    representation, and the input is the log-normalised expression standardised per gene over all spots
    (:func:`~semst_sc.nn.standardised_log`; several sections together, not each on its own as in
    ``layers['semst_scaled']``).
    A contrastive term asks a bilinear discriminator to tell each spot's representation from that
    of a corrupted graph (spots' inputs shuffled), given the spot's neighbourhood summary
    (Deep Graph Infomax with local summaries, as GraphST; Long et al., Nat Commun 2023).

    Parameters
    ----------
    n_input
        Genes in the encoder input.
    n_output
        Genes reconstructed: the input's (``None`` or ``n_input``).
    semantic_dim
        Dimension of the semantic vectors; ``None`` builds the model without FSM.
    latent_dim
        Dimension of the latent representation.
    recon_weight, contrast_weight
        Weights of the reconstruction (mean squared error) and contrastive terms.
    """

    graphs = ("spatial",)
    input_transform = "log_standardised"
    n_epochs = 300
    weight_decay = 0.0
    embedding = "reconstruction"

    def __init__(
        self,
        n_input: int,
        n_output: int | None = None,
        semantic_dim: int | None = None,
        *,
        latent_dim: int = 64,
        recon_weight: float = 10.0,
        contrast_weight: float = 1.0,
    ):
        super().__init__()
        from torch_geometric.nn import GCNConv

        check_integer(latent_dim, "latent_dim")
        for name, value in (("recon_weight", recon_weight), ("contrast_weight", contrast_weight)):
            check_number(value, name)
        if n_output not in (None, n_input):
            raise ValueError(f"ContrastiveGCN reconstructs its input: n_output must be n_input ({n_input})")
        self.n_input = n_input
        self.encoder = GCNConv(n_input, latent_dim, normalize=False, add_self_loops=False)
        self.decoder = nn.Linear(latent_dim, n_input)  # a graph convolution, propagated before the linear map
        self.fsm = None if semantic_dim is None else FSM(semantic_dim, latent_dim, head_dim=latent_dim)
        self.discriminator = nn.Bilinear(latent_dim, latent_dim, 1)
        self.recon_weight, self.contrast_weight = recon_weight, contrast_weight

    @property
    def embedding_dim(self) -> int:
        """Columns of the embedding (the reconstructed genes)."""
        return self.n_input

    def encode(self, batch: Batch, corrupt: bool = False) -> dict[str, torch.Tensor]:
        """Return the modulated representation of every node of the spatial graph (inputs shuffled if ``corrupt``)."""
        x, semantic = batch.x["spatial"], batch.semantic
        if corrupt:
            x, semantic = x[batch.permutation], None if semantic is None else semantic[batch.permutation]
        return {"spatial": self.fuse({"spatial": convolve(self.encoder, x, batch.adjacency["spatial"])}, semantic)}

    def fuse(self, views: dict[str, torch.Tensor], semantic: torch.Tensor | None) -> torch.Tensor:
        """Modulate the representation with the FSM (applied to every node: the decoder averages over them)."""
        return self.modulate(views["spatial"], semantic)

    def decode(self, h: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        """Reconstruct the input from ``h`` over the graph: ``A (h W) + b = (A h) W + b``, the cheaper order."""
        return self.decoder(propagate(adjacency, h))

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Reconstruction and contrastive terms on the seeds; ``"total"`` is their weighted sum."""
        n, adjacency = batch.n_seeds, batch.adjacency["spatial"]
        h = self.encode(batch)["spatial"]
        h_corrupt = self.encode(batch, corrupt=True)["spatial"]
        recon = F.mse_loss(self.decode(h, adjacency)[:n], batch.x["spatial"][:n])
        real, fake = torch.relu(h), torch.relu(h_corrupt)
        summary = torch.sigmoid(F.normalize(propagate(adjacency, real)[:n], dim=1))
        summary_fake = torch.sigmoid(F.normalize(propagate(adjacency, fake)[:n], dim=1))
        real, fake = real[:n], fake[:n]
        logits = torch.cat(
            [
                self.discriminator(real, summary),
                self.discriminator(fake, summary),
                self.discriminator(fake, summary_fake),
                self.discriminator(real, summary_fake),
            ]
        ).squeeze(1)
        target = torch.cat([torch.ones(n), torch.zeros(n), torch.ones(n), torch.zeros(n)]).to(logits.device)
        contrast = F.binary_cross_entropy_with_logits(logits, target)
        total = self.recon_weight * recon + self.contrast_weight * contrast
        return {"recon": recon, "contrast": contrast, "total": total}

    @torch.no_grad()
    def embed(self, batch: Batch, chunk_size: int = 65_536) -> torch.Tensor:
        """Return the seeds' reconstruction, decoded from their (modulated) representation over the graph.

        The decoder, whose output has a column per gene, runs on ``chunk_size`` seeds at a time into one tensor.
        """
        n = batch.n_seeds
        pooled = propagate(batch.adjacency["spatial"], self.encode(batch)["spatial"])[:n]  # A h, as decode
        out = None
        for start in range(0, n, chunk_size):
            part = self.decoder(pooled[start : start + chunk_size])
            out = part.new_empty((n, part.shape[1])) if out is None else out
            out[start : start + len(part)] = part
        return out
