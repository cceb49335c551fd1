"""Grounding samples, the torch ``Dataset`` over them and ``collate`` into the Batch dict.

Batch (COMMON interface): "video" (B,T,dv) float32 | "video_mask" (B,T) bool | "words" (B,N) int64 |
"word_mask" (B,N) bool | "word_class" (B,N) int64 | "start_idx", "end_idx" (B,) int64 | "inner" (B,T)
float32 (1 on clips start_idx..end_idx) | "duration" (B,) float32 | "gt_seconds" (B,2) float32 |
"num_clips" (B,) int64 | "video_id", "sentence" lists | "present" (B,) bool, only when an item has "present"
(:mod:`engine.data.absent`: False = a window without its target, whose "inner" is all 0) | "lookalike" (B,T)
bool, only when an item has "lookalike" (the clips of an absent window's look-alike moment). T and N are the
longest video / query of the batch; padding is zero (<pad> = 0 for words) and masks are prefix masks, True = valid.
Labels follow docs/design.md §2.7 on the video's clip count after resampling (``seconds_to_index``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset

from engine.data.annotations import Moment, SplitReport
from engine.data.features import ClipFeatures
from engine.decoding import seconds_to_index
from engine.text import OTHER
from engine.vocab import Vocabulary


@dataclass(frozen=True)
class Sample:
    """A moment with its processed query: tokens, their vocabulary ids and word classes."""

    video_id: str
    sentence: str
    start: float
    end: float
    duration: float
    tokens: tuple[str, ...]
    word_ids: tuple[int, ...]
    word_class: tuple[int, ...]
    windows: tuple[tuple[float, float], ...] = ()  # every ground truth of a multi-window query (see Moment)


class GroundingDataset(Dataset):
    """Samples over a feature source; ``report`` is what the annotation parser kept and dropped."""

    def __init__(self, samples: Sequence[Sample], features: ClipFeatures, report: SplitReport | None = None):
        self.samples = list(samples)
        self.features = features
        self.report = report if report is not None else SplitReport(loaded=len(self.samples))

    @property
    def video_dim(self) -> int:
        return self.features.video_dim

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.samples[index]
        video = torch.from_numpy(self.features.load(sample.video_id))
        start_idx, end_idx = seconds_to_index(sample.start, sample.end, video.shape[0], sample.duration)
        return {
            "video": video,
            "words": torch.tensor(sample.word_ids, dtype=torch.int64),
            "word_class": torch.tensor(sample.word_class, dtype=torch.int64),
            "start_idx": start_idx,
            "end_idx": end_idx,
            "duration": sample.duration,
            "gt_seconds": (sample.start, sample.end),
            "video_id": sample.video_id,
            "sentence": sample.sentence,
        }

    def summary(self) -> str:
        """One line: what the parser kept and dropped, videos, queries without entity / motion words."""
        videos = len({s.video_id for s in self.samples})
        plain = sum(all(c == OTHER for c in s.word_class) for s in self.samples)
        return f"{self.report.summary()}; {videos} videos; {plain} queries without entity/motion words"


def collate(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pad ``GroundingDataset`` items into a Batch (layout in the module docstring)."""
    if not items:
        raise ValueError("collate: empty batch")
    num_clips = torch.tensor([item["video"].shape[0] for item in items], dtype=torch.int64)
    num_words = torch.tensor([item["words"].shape[0] for item in items], dtype=torch.int64)
    clips = torch.arange(int(num_clips.max()))
    start_idx = torch.tensor([item["start_idx"] for item in items], dtype=torch.int64)
    end_idx = torch.tensor([item["end_idx"] for item in items], dtype=torch.int64)
    present = torch.tensor([item.get("present", True) for item in items], dtype=torch.bool)
    pad = torch.nn.utils.rnn.pad_sequence
    batch = {
        "video": pad([item["video"] for item in items], batch_first=True),
        "video_mask": clips[None, :] < num_clips[:, None],
        "words": pad([item["words"] for item in items], batch_first=True),
        "word_mask": torch.arange(int(num_words.max()))[None, :] < num_words[:, None],
        "word_class": pad([item["word_class"] for item in items], batch_first=True),
        "start_idx": start_idx,
        "end_idx": end_idx,
        "inner": ((clips[None, :] >= start_idx[:, None]) & (clips[None, :] <= end_idx[:, None])
                  & present[:, None]).float(),
        "duration": torch.tensor([item["duration"] for item in items], dtype=torch.float32),
        "gt_seconds": torch.tensor([item["gt_seconds"] for item in items], dtype=torch.float32),
        "num_clips": num_clips,
        "video_id": [item["video_id"] for item in items],
        "sentence": [item["sentence"] for item in items],
    }
    if any("present" in item for item in items):
        batch["present"] = present
    if any("lookalike" in item for item in items):  # absent windows' look-alike moments (engine.data.absent)
        first, last = (torch.tensor([item.get("lookalike", (0, -1))[i] for item in items]) for i in (0, 1))
        batch["lookalike"] = (clips[None, :] >= first[:, None]) & (clips[None, :] <= last[:, None])
    return batch


def make_samples(
    moments: Iterable[Moment], tagged: dict[str, tuple[list[str], list[int]]], vocab: Vocabulary,
    per_window: bool = False,
) -> list[Sample]:
    """Samples from moments, their sentences' :func:`~engine.text.tag_queries` result and the vocabulary.

    A moment with several ground-truth windows gives one sample per window with ``per_window`` (training:
    each window is a target), else one sample that keeps every window (evaluation: a hit on any counts).
    """
    samples = []
    for m in moments:
        tokens, classes = tagged[m.sentence]
        text = (tuple(tokens), tuple(vocab.encode(tokens)), tuple(classes))
        if per_window and m.windows:
            samples += [Sample(m.video_id, m.sentence, start, end, m.duration, *text) for start, end in m.windows]
        else:
            samples.append(Sample(m.video_id, m.sentence, m.start, m.end, m.duration, *text, m.windows))
    return samples
