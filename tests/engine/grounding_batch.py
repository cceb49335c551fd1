"""Small random batches and configs for the model tests (ragged clips and words, every word class)."""

from __future__ import annotations

import functools

import torch

from engine import decode_spans, evaluate, index_to_seconds
from engine.config import Config, DataConfig
from engine.data import build_datasets, collate
from engine.models import model_inputs as engine_model_inputs

DIM, HEADS = 32, 4
VIDEO_DIM, WORD_DIM, VOCAB = 20, 16, 40
CLIP_LENGTHS = [12, 9, 5, 1]  # ragged, a single-clip video
WORD_LENGTHS = [7, 3, 1, 5]
T, N = max(CLIP_LENGTHS), max(WORD_LENGTHS) + 1  # one fully padded word column


def small_config(name: str, **overrides) -> Config:
    """A small config of model ``name``; ``overrides`` are fields of the ``model`` section or of the model's own
    (``entity_blocks`` of EAMAT's, ``pathways`` of DP's; sizes a model does not have are ignored)."""
    fields = dict(
        name=name, dim=DIM, num_heads=HEADS, num_scales=3, dropout=0.0, video_dim=VIDEO_DIM,
        vocab_size=VOCAB, word_dim=WORD_DIM, entity_blocks=1, motion_blocks=1, kernels="reference",
    )
    fields.update(overrides)
    cfg = Config()
    for key, value in fields.items():
        cfg.set(f"model.{key}", value)
    return cfg


def word_vectors(seed: int = 0) -> torch.Tensor:
    vectors = torch.randn(VOCAB, WORD_DIM, generator=torch.Generator().manual_seed(seed))
    vectors[:2] = 0.0  # <pad>, <unk>
    return vectors


def prefix_mask(lengths: list[int], size: int) -> torch.Tensor:
    return torch.arange(size) < torch.tensor(lengths)[:, None]


def random_batch(seed: int = 0) -> dict[str, torch.Tensor]:
    """A collate-style batch: labels inside each sample's valid clips, <unk> (id 1) used, padding id 0."""
    g = torch.Generator().manual_seed(seed)
    B = len(CLIP_LENGTHS)
    video_mask, word_mask = prefix_mask(CLIP_LENGTHS, T), prefix_mask(WORD_LENGTHS, N)
    words = torch.randint(2, VOCAB, (B, N), generator=g)
    words[:, 0] = 1
    words = words * word_mask
    word_class = torch.randint(0, 3, (B, N), generator=g) * word_mask
    lengths = torch.tensor(CLIP_LENGTHS)
    start = (torch.rand(B, generator=g) * lengths).long()
    end = torch.minimum(start + (torch.rand(B, generator=g) * 4).long(), lengths - 1)
    clips = torch.arange(T)
    inner = ((clips >= start[:, None]) & (clips <= end[:, None])).float()
    video = torch.randn(B, T, VIDEO_DIM, generator=g) * video_mask.unsqueeze(-1)
    return dict(
        video=video, video_mask=video_mask, words=words, word_mask=word_mask, word_class=word_class,
        start_idx=start, end_idx=end, inner=inner,
    )


def model_inputs(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    return engine_model_inputs(batch)


def repadded(batch: dict[str, torch.Tensor], seed: int = 1) -> dict[str, torch.Tensor]:
    """The same batch with different garbage in every padded clip feature, word id and word class."""
    g = torch.Generator().manual_seed(seed)
    out = dict(batch)
    pad_clips = ~batch["video_mask"].unsqueeze(-1)
    out["video"] = torch.where(pad_clips, 100 * torch.randn(batch["video"].shape, generator=g), batch["video"])
    pad_words, shape = ~batch["word_mask"], batch["words"].shape
    out["words"] = torch.where(pad_words, torch.randint(1, VOCAB, shape, generator=g), batch["words"])
    out["word_class"] = torch.where(pad_words, torch.randint(0, 3, shape, generator=g), batch["word_class"])
    return out


def assert_valid_outputs_close(a: dict, b: dict, video_mask: torch.Tensor, atol: float) -> None:
    for key in ("start_logits", "end_logits", "inner_logits"):
        torch.testing.assert_close(a[key][video_mask], b[key][video_mask], atol=atol, rtol=0)


# The start / end heads' output biases shift every logit of a softmax alike: cross-entropy ignores them, so their
# gradient is zero in exact arithmetic (rounding noise may or may not make it non-zero).
SHIFT_INVARIANT = ("heads.start.3.bias", "heads.end.3.bias")


def assert_every_parameter_learns(model: torch.nn.Module, skip: tuple[str, ...] = ()) -> None:
    """Every trainable parameter (but those named in ``skip`` and :data:`SHIFT_INVARIANT`) has a finite, non-zero
    gradient."""
    for name, param in model.named_parameters():
        if not param.requires_grad or name.startswith(skip + SHIFT_INVARIANT):
            continue
        assert param.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(param.grad).all(), f"{name} has a non-finite gradient"
        assert param.grad.abs().sum() > 0, f"{name} has an all-zero gradient"


OVERFIT_SAMPLES = 16
OVERFIT_POOL = 96  # synthetic train videos generated; the 16 shortest are used (<= 32 clips, no resampling)
EVAL_EVERY = 10


@functools.lru_cache(maxsize=1)
def synthetic_overfit_set() -> tuple[dict, torch.Tensor, int]:
    """(batch of the 16 shortest videos of the embedded synthetic train split, word vectors, video_dim)."""
    splits, vocab = build_datasets(DataConfig(synthetic_train=OVERFIT_POOL, synthetic_val=1, synthetic_test=1))
    train = splits["train"]
    items = sorted((train[i] for i in range(len(train))), key=lambda item: item["video"].shape[0])
    return collate(items[:OVERFIT_SAMPLES]), vocab.vectors, train.video_dim


def recall_at_07(start_idx: torch.Tensor, end_idx: torch.Tensor, batch: dict) -> float:
    """R@1 IoU>=0.7 (percent) of predicted clip spans against the batch's ground truth in seconds."""
    start_s, end_s = index_to_seconds(start_idx, end_idx, batch["num_clips"], batch["duration"])
    pred = torch.stack([start_s, end_s], dim=1).numpy()
    return evaluate(pred, batch["gt_seconds"].numpy(), batch["duration"].numpy())["R1@0.7"]


def steps_to_perfect_recall(model: torch.nn.Module, batch: dict, lr: float, max_steps: int) -> int | None:
    """Full-batch Adam steps until eval-mode R@1 IoU>=0.7 is 100% (checked every EVAL_EVERY), else None."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    inputs = model_inputs(batch)
    for step in range(1, max_steps + 1):
        model.train()
        loss, _ = model.loss(model(*inputs), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % EVAL_EVERY == 0:
            model.eval()
            with torch.no_grad():
                out = model(*inputs)
            start, end, _ = decode_spans(out["start_logits"], out["end_logits"], batch["video_mask"])
            if recall_at_07(start, end, batch) == 100.0:
                return step
    return None
