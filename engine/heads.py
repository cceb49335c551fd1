"""Prediction heads and the training objective every model shares (EAMAT, Dynamic Pathway, VSLNet).

Heads (EAMAT Eq. 9/11, DP Eq. 15/16): start, end and inner scores, each an MLP ``d -> d/2 -> 1``
(Linear -> GELU -> Dropout -> Linear; the papers write ReLU, the authors' EAMAT code uses GELU).
Start/end logits are masked to the valid clips with :data:`MASKED_LOGIT`.

Presence (docs/design.md §11.1): ``presence_logits`` (B,) is the largest inner logit over a row's valid
clips, so ``sigmoid(presence_logits)`` is the probability the most moment-like clip of the row belongs to the
queried moment.  Start / end probabilities are a softmax within the row and every row has a best span; the
inner BCE is absolute per clip, so presence compares across rows (the windows of a long video) where P_start x
P_end cannot.  It adds no parameter: the paper presets' models are unchanged.

Loss (docs/design.md §5.1), all terms averaged over the batch:

    L = boundary_weight * (CE(start) + CE(end))           CE over the valid clips, rows holding the target
      + inner_weight    * BCE_w(inner, y_in)              y_in = 1 on clips start_idx..end_idx
      + the model's own weighted terms                    e.g. EAMAT's Pe BCE and alignment (engine.models.eamat)

``BCE_w`` weights positive clips by ``bce_pos_weight`` (2) and is a masked mean over each sample's
valid clips, then a mean over samples -- as in the authors' code.

Rows without the target (``batch["present"]`` False; ``train.absent_fraction``, :mod:`engine.data.absent`)
have no boundary: their CE terms are left out (the mean is over the rows holding the target), while the
inner BCE (and a model's per-clip terms against ``y_in``) sees every clip as negative (``y_in = 0``), which is
what teaches presence.  In the inner BCE the clips of an absent window's look-alike moment (``batch["lookalike"]``,
:mod:`engine.data.absent`) weigh ``lookalike_weight``: among a window's clips they are few, and they are where a
long video's wrong answers come from.  Without a ``present`` key every row holds its target and the loss is the
papers' one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import ModelConfig

# Masked start/end logit: representable in fp16/bf16, and exp(MASKED_LOGIT - max) is 0 in every dtype.
MASKED_LOGIT = -1e4


class ScoreHead(nn.Sequential):
    """Per-clip score: (B, T, d) -> (B, T) via Linear(d, d/2) -> GELU -> Dropout -> Linear(d/2, 1)."""

    def __init__(self, dim: int, dropout: float = 0.0) -> None:
        super().__init__(nn.Linear(dim, dim // 2), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim // 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).squeeze(-1)


class GroundingHeads(nn.Module):
    """Start / end / inner heads: ``(B, T, d), mask (B, T) -> {"start_logits", "end_logits", "inner_logits"}``."""

    def __init__(self, dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.start = ScoreHead(dim, dropout)
        self.end = ScoreHead(dim, dropout)
        self.inner = ScoreHead(dim, dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        invalid = mask == 0
        inner = self.inner(x)
        return {
            "start_logits": self.start(x).masked_fill(invalid, MASKED_LOGIT),
            "end_logits": self.end(x).masked_fill(invalid, MASKED_LOGIT),
            "inner_logits": inner,
            "presence_logits": presence_logits(inner, mask),
        }


def presence_logits(inner_logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B,) the largest inner logit over each row's valid clips (:data:`MASKED_LOGIT` for a row without one)."""
    return inner_logits.masked_fill(mask == 0, MASKED_LOGIT).amax(-1)


def weighted_bce(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, pos_weight: float,
                 neg_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over samples of the masked mean over clips of BCE-with-logits, positives weighted ``pos_weight``,
    negatives ``neg_weights`` (B, T) (1 when None)."""
    valid = (mask != 0).float()
    weights = torch.where(labels > 0, pos_weight, 1.0 if neg_weights is None else neg_weights)
    per_clip = F.binary_cross_entropy_with_logits(logits.float(), labels.float(), reduction="none") * weights
    return ((per_clip * valid).sum(1) / valid.sum(1).clamp(min=1.0)).mean()


def boundary_loss(
    start_logits: torch.Tensor, end_logits: torch.Tensor, start_idx: torch.Tensor, end_idx: torch.Tensor,
    present: torch.Tensor | None = None,
) -> torch.Tensor:
    """CE(start) + CE(end), each a mean over the samples holding their target (``present``, all when None;
    0 when none does); the logits already carry the clip mask."""
    if present is None:
        return F.cross_entropy(start_logits.float(), start_idx) + F.cross_entropy(end_logits.float(), end_idx)
    rows = present.float()
    per_row = (F.cross_entropy(start_logits.float(), start_idx, reduction="none")
               + F.cross_entropy(end_logits.float(), end_idx, reduction="none"))
    return (per_row * rows).sum() / rows.sum().clamp(min=1.0)


def lookalike_weights(batch: dict[str, torch.Tensor], weight: float) -> torch.Tensor | None:
    """(B, T) negative-clip weights of the inner BCE: ``weight`` on the clips of absent windows' look-alike
    moments (``batch["lookalike"]``), 1 elsewhere; None when there are none or ``weight`` is 1."""
    if "lookalike" not in batch or weight == 1.0:
        return None
    return 1.0 + (weight - 1.0) * batch["lookalike"].float()


def grounding_loss(
    outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], config: ModelConfig,
    extra: dict[str, tuple[float, torch.Tensor]] | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The weighted objective above, with the model's own ``extra`` terms ({name: (weight, value)}) -> (total
    loss, {"boundary", "inner", *extra, "total"}).

    ``batch["inner"]`` must be 0 on every clip of a row whose ``batch["present"]`` is False."""
    mask, inner, present = batch["video_mask"], batch["inner"], batch.get("present")
    terms = {
        "boundary": (config.boundary_weight, boundary_loss(
            outputs["start_logits"], outputs["end_logits"], batch["start_idx"], batch["end_idx"], present)),
        "inner": (config.inner_weight, weighted_bce(outputs["inner_logits"], inner, mask, config.bce_pos_weight,
                                                    lookalike_weights(batch, config.lookalike_weight))),
        **(extra or {}),
    }
    total = sum(weight * value for weight, value in terms.values())
    parts = {name: float(value.detach()) for name, (_, value) in terms.items()}
    parts["total"] = float(total.detach())
    return total, parts
