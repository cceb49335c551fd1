"""Training windows of long inputs: windows that miss the target, and targets among other videos' clips
(``train.absent_fraction``, ``train.mixed_fraction``; docs/design.md §11.1).

A long video is cut into windows of ``max_clips`` clips and every window proposes its best span, so a model
must learn what a window *without* the queried moment looks like, and find a moment in a window that also
holds the end or the start of other, unrelated footage.  :class:`LongVideoWindows` extends a training split:

* **absent windows** (``absent_fraction`` x N extra items), the sample's query over, by ``absent_source``:
  ``own``, the sample's own video with every clip of every annotation of the sentence cut out (the clips
  before, then those after: its scene and its other events -- in the synthetic set the target's look-alikes --
  stay); ``others``, ``max_clips`` consecutive clips of other training videos (whole videos in random order, a
  random stretch of them), what most windows of a long video are; ``similar``, a window of other videos' clips
  around a moment of another video whose sentence shares some of the query's content words but not all
  (:func:`engine.text.content_words`: "a person opens the box" for "a person opens the door"), the look-alikes
  that make a long video hard.  ``similar`` falls back to ``others`` for a query without such a moment, and
  ``others`` to repeats of the own cut when too few other videos qualify.
* **mixed windows** (``mixed_fraction`` of the samples): the sample's whole video at a random position of a
  window of ``max_clips`` clips whose other clips are other videos' clips; the labels move with it.

Other videos are drawn at random among those with no annotation of the same sentence, look-alike moments among
those whose sentence does not name all of the query's content words.  A video that holds the queried moment
without such an annotation (another wording, an unannotated repeat) makes a wrong negative; in the synthetic
set, where every video holds look-alikes of its own target, about one ``others`` window in ten and one
``similar`` window in eight.  A sample with fewer than :data:`MIN_ABSENT_CLIPS` clips
left outside its moments keeps its target (its extra item is a mixed window).

Items carry ``present`` (False for absent windows) and, in a ``similar`` window, ``lookalike``: the first and
last clip of its look-alike moment, which ``model.lookalike_weight`` weighs in the inner BCE (the clips a long
video's wrong answers come from).  :func:`engine.data.dataset.collate` turns them into the batch's ``present``
and ``lookalike`` masks and zeroes the absent rows' inner labels, and :func:`engine.heads.grounding_loss` leaves their
boundary terms out.  Which samples give an extra item is fixed by their order (evenly spread); the random
draws of an item depend only on (``seed``, epoch, index), so a run and its ``--resume`` see the same windows.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from engine.data.dataset import GroundingDataset
from engine.decoding import seconds_to_index
from engine.text import content_words

ABSENT_SOURCES = ("own", "others", "similar")
MIN_ABSENT_CLIPS = 4  # fewest clips a sample's video must keep outside its moments to give an absent window


def evenly_spread(count: int, fraction: float) -> list[int]:
    """``round(fraction x count)`` indices in ``range(count)``, evenly spread."""
    return sorted({int(i) for i in np.linspace(0, count, round(fraction * count), endpoint=False)})


class LongVideoWindows(Dataset):
    """``dataset``'s items (a ``mixed_fraction`` of them as mixed windows), then ``round(absent_fraction x N)``
    absent windows (module docstring).  Both fractions are in [0, 1]; with both 0 the items are ``dataset``'s.
    ``set_epoch`` changes the random draws per epoch."""

    def __init__(self, dataset: GroundingDataset, absent_fraction: float, mixed_fraction: float = 0.0,
                 seed: int = 0, absent_source: str = "own") -> None:
        if absent_source not in ABSENT_SOURCES:
            raise ValueError(f"train.absent_source must be one of {list(ABSENT_SOURCES)}, got {absent_source!r}")
        for name, value in (("absent_fraction", absent_fraction), ("mixed_fraction", mixed_fraction)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"train.{name} must be in [0, 1], got {value}")
        self.dataset, self.seed, self.epoch, self.absent_source = dataset, seed, 0, absent_source
        self.sources = evenly_spread(len(dataset), absent_fraction)
        self.mixed = set(evenly_spread(len(dataset), mixed_fraction))
        self.window = dataset.features.max_clips
        self.moments: dict[tuple[str, str], list[tuple[float, float, float]]] = defaultdict(list)
        self.sentences: dict[str, set[str]] = defaultdict(set)
        for sample in dataset.samples:
            self.moments[sample.video_id, sample.sentence].append((sample.start, sample.end, sample.duration))
            self.sentences[sample.video_id].add(sample.sentence)
        self.videos = list(self.sentences)
        self.moment_list = [(video_id, span) for (video_id, _), spans in self.moments.items() for span in spans]
        self.moment_videos = np.array([video_id for video_id, _ in self.moment_list], dtype=object)
        self.lookalikes = similar_moments(self.moments) if absent_source == "similar" else {}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset) + len(self.sources)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index < len(self.dataset) and index not in self.mixed:
            return self.dataset[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        item = self.dataset[index if index < len(self.dataset) else self.sources[index - len(self.dataset)]]
        video = item["video"]
        if index >= len(self.dataset):
            keep = torch.ones(video.shape[0], dtype=torch.bool)
            for start, end, duration in self.moments[item["video_id"], item["sentence"]]:
                first, last = seconds_to_index(start, end, video.shape[0], duration)
                keep[first:last + 1] = False
            if int(keep.sum()) >= MIN_ABSENT_CLIPS:
                window, lookalike = self._absent_window(item, video[keep], rng)
                absent = {**item, "video": window, "start_idx": 0, "end_idx": 0, "present": False}
                return absent if lookalike is None else {**absent, "lookalike": lookalike}
        before, window = self._surround(video, item, rng)
        return {**item, "video": window, "start_idx": item["start_idx"] + before, "end_idx": item["end_idx"] + before}

    def _absent_window(self, item: dict[str, Any], own: torch.Tensor, rng: np.random.Generator
                       ) -> tuple[torch.Tensor, tuple[int, int] | None]:
        """The clips of an absent window for ``item`` by ``absent_source`` (``own``: its video, moments cut),
        and the first and last clip of the look-alike moment in it (None without one)."""
        if self.absent_source == "own":
            return own, None
        if self.absent_source == "similar":
            return self._lookalike(item, own, rng)
        return self._other_clips(item, self.window, own, rng), None

    def _lookalike(self, item: dict[str, Any], own: torch.Tensor, rng: np.random.Generator
                   ) -> tuple[torch.Tensor, tuple[int, int] | None]:
        """A window of ``max_clips`` clips around a look-alike moment of another video (``own``'s repeats or
        other videos' clips fill it; ``others`` when the query has no look-alike in another video), and the
        moment's first and last clip in the window."""
        candidates = self.lookalikes.get(item["sentence"], np.empty(0, np.int32))
        candidates = candidates[self.moment_videos[candidates] != item["video_id"]]
        if not len(candidates):
            return self._other_clips(item, self.window, own, rng), None
        video_id, (start, end, duration) = self.moment_list[candidates[int(rng.integers(len(candidates)))]]
        clips = torch.from_numpy(self.dataset.features.load(video_id))
        first, last = seconds_to_index(start, end, clips.shape[0], duration)
        before, window = self._surround(clips, item, rng)  # loaded clips are at most max_clips: the whole video
        return window, (before + first, before + last)

    def _surround(self, clips: torch.Tensor, item: dict[str, Any], rng: np.random.Generator
                  ) -> tuple[int, torch.Tensor]:
        """``clips`` at a random position of a window of ``max_clips`` clips filled with other videos' clips
        -> (clips before them, the window)."""
        room = self.window - clips.shape[0]
        if room <= 0:
            return 0, clips
        before = int(rng.integers(0, room + 1))
        other = self._other_clips(item, room, clips, rng)
        return before, torch.cat([other[:before], clips, other[before:]])

    def _other_clips(self, item: dict[str, Any], count: int, own: torch.Tensor, rng: np.random.Generator
                     ) -> torch.Tensor:
        """``count`` clips of other videos without an annotation of ``item``'s sentence (repeats of ``own`` when
        too few videos qualify)."""
        parts, total = [], 0
        for _ in range(4 * len(self.videos)):
            if total >= count:
                break
            video_id = self.videos[int(rng.integers(len(self.videos)))]
            if video_id == item["video_id"] or item["sentence"] in self.sentences[video_id]:
                continue
            parts.append(torch.from_numpy(self.dataset.features.load(video_id)))
            total += parts[-1].shape[0]
        if total < count:
            parts.append(own.repeat(count // own.shape[0] + 1, 1))
        clips = torch.cat(parts)
        start = int(rng.integers(0, clips.shape[0] - count + 1))
        return clips[start:start + count]


def similar_moments(moments: dict[tuple[str, str], list[tuple[float, float, float]]]) -> dict[str, np.ndarray]:
    """Per sentence, the indices of its look-alike moments in the order of ``moments`` flattened (each key's
    spans in turn): every moment whose sentence shares some of its content words but not all
    (:func:`engine.text.content_words`); a sentence naming all of them is taken for the same moment in other
    words.  Indices (int32), not moments: a Charades-size split has ~2,000 look-alikes per sentence."""
    words = content_words(sentence for _, sentence in moments)
    by_word: dict[str, set[str]] = defaultdict(set)
    for sentence, stems in words.items():
        for stem in stems:
            by_word[stem].add(sentence)
    by_sentence: dict[str, list[int]] = defaultdict(list)
    index = 0
    for (_, sentence), spans in moments.items():
        by_sentence[sentence].extend(range(index, index + len(spans)))
        index += len(spans)
    similar = {}
    for sentence, stems in words.items():
        near = set().union(*(by_word[stem] for stem in stems)) if stems else set()
        similar[sentence] = np.fromiter((i for other in sorted(near) if not stems <= words[other]
                                         for i in by_sentence[other]), dtype=np.int32)
    return similar
