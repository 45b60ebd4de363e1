from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._fsm import FSM


class ContrastiveGCN(nn.Module):
    """A GraphST-style graph contrastive autoencoder on the spatial graph, with an optional FSM.

    One graph convolution encodes the spots, the FSM (when semantic vectors are given) modulates
    that representation, and a second graph convolution reconstructs the encoder input from it.
    As in GraphST, the embedding to cluster is that spatially decoded reconstruction, not the
    latent representation.
    A contrastive term asks a bilinear discriminator to tell each spot's representation from that
    of a corrupted graph (spots' inputs shuffled), given the spot's neighbourhood summary
    (Deep Graph Infomax with local summaries, as GraphST; Long et al., Nat Commun 2023).

    Parameters
    ----------
    n_input
        Genes in the encoder input.
    semantic_dim
        Dimension of the semantic vectors; ``None`` builds the model without FSM.
    latent_dim
        Dimension of the embedding.
    recon_weight, contrast_weight
        Weights of the reconstruction (mean squared error) and contrastive terms.
    """

    def __init__(
        self,
        n_input: int,
        semantic_dim: int | None,
        *,
        latent_dim: int = 64,
        recon_weight: float = 10.0,
        contrast_weight: float = 1.0,
    ):
        super().__init__()
        from torch_geometric.nn import GCNConv

        self.encoder = GCNConv(n_input, latent_dim, normalize=False, add_self_loops=False)
        self.decoder = nn.Linear(latent_dim, n_input)  # a graph convolution, propagated before the linear map
        self.fsm = None if semantic_dim is None else FSM(semantic_dim, latent_dim, head_dim=latent_dim)
        self.discriminator = nn.Bilinear(latent_dim, latent_dim, 1)
        self.recon_weight, self.contrast_weight = recon_weight, contrast_weight

    def _encode(self, x: torch.Tensor, adjacency: torch.Tensor, semantic: torch.Tensor | None) -> torch.Tensor:
        h = self.encoder(x, adjacency)
        if self.fsm is not None:
            if semantic is None:
                raise ValueError("this model has an FSM: pass the semantic vectors")
            h = self.fsm(h, semantic)
        return h

    def loss(self, data, sample) -> dict[str, torch.Tensor]:
        """Reconstruction and contrastive terms; ``"total"`` is their weighted sum."""
        adjacency, perm = data.spatial_adjacency, sample.permutation
        semantic = data.semantic
        h = self._encode(data.x, adjacency, semantic)
        h_corrupt = self._encode(data.x[perm], adjacency, None if semantic is None else semantic[perm])
        recon = F.mse_loss(self._decode(h, adjacency), data.x)
        real, fake = torch.relu(h), torch.relu(h_corrupt)
        summary = torch.sigmoid(F.normalize(torch.sparse.mm(adjacency, real), dim=1))
        summary_fake = torch.sigmoid(F.normalize(torch.sparse.mm(adjacency, fake), dim=1))
        logits = torch.cat(
            [
                self.discriminator(real, summary),
                self.discriminator(fake, summary),
                self.discriminator(fake, summary_fake),
                self.discriminator(real, summary_fake),
            ]
        ).squeeze(1)
        n = h.shape[0]
        target = torch.cat([torch.ones(n), torch.zeros(n), torch.ones(n), torch.zeros(n)]).to(logits.device)
        contrast = F.binary_cross_entropy_with_logits(logits, target)
        total = self.recon_weight * recon + self.contrast_weight * contrast
        return {"recon": recon, "contrast": contrast, "total": total}

    def _decode(self, h: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        # A (h W) + b = (A h) W + b: propagating the latent_dim-wide h is far cheaper than the gene-wide h W
        return self.decoder(torch.sparse.mm(adjacency, h))

    def embed(self, data) -> torch.Tensor:
        """Return every spot's reconstruction, decoded from its (modulated) representation over the graph."""
        return self._decode(self._encode(data.x, data.spatial_adjacency, data.semantic), data.spatial_adjacency)
