"""GroundingDataset items and collate: Batch shapes, dtypes, masks, padding and docs/design.md §2.7 labels."""

import numpy as np
import torch

from engine.data import GroundingDataset, Sample, collate
from engine.data.features import ArrayFeatures

DV = 6
MAX_CLIPS = 20
# video id -> raw clip count (the 100-clip video is resampled to MAX_CLIPS)
RAW_CLIPS = {"short": 8, "long": 100, "mid": 13}
BATCH_KEYS = {
    "video", "video_mask", "words", "word_mask", "word_class", "start_idx", "end_idx", "inner",
    "duration", "gt_seconds", "num_clips", "video_id", "sentence",
}  # fmt: skip


def _dataset() -> GroundingDataset:
    rng = np.random.default_rng(0)
    arrays = {v: rng.normal(size=(n, DV)).astype(np.float32) for v, n in RAW_CLIPS.items()}
    samples = [
        # 8 clips over 16 s: start 3.0 s -> int(1.5) = 1, end 9.9 s -> int(4.95) = 4
        Sample("short", "person opens door", 3.0, 9.9, 16.0, ("person", "opens", "door"), (5, 6, 7), (1, 2, 1)),
        # 20 clips over 50 s: start 0 -> 0, end 50 s -> min(int(20), 19) = 19
        Sample("long", "cup", 0.0, 50.0, 50.0, ("cup",), (9,), (1,)),
        # 13 clips over 13 s: start 12.5 s -> 12 and end 12.9 -> 12 (a one-clip moment at the end)
        Sample("mid", "holds it", 12.5, 12.9, 13.0, ("holds", "it"), (1, 4), (2, 1)),
    ]
    return GroundingDataset(samples, ArrayFeatures(arrays, MAX_CLIPS))


def test_collate_batch_layout_and_labels():
    dataset = _dataset()
    assert dataset.video_dim == DV and len(dataset) == 3
    batch = collate([dataset[i] for i in range(3)])
    assert set(batch) == BATCH_KEYS
    lengths, words = [8, MAX_CLIPS, 13], [3, 1, 2]
    assert batch["video"].shape == (3, MAX_CLIPS, DV) and batch["video"].dtype == torch.float32
    assert batch["num_clips"].tolist() == lengths and batch["num_clips"].dtype == torch.int64
    for b, (n_clips, n_words) in enumerate(zip(lengths, words, strict=True)):
        assert batch["video_mask"][b].tolist() == [t < n_clips for t in range(MAX_CLIPS)]
        assert batch["word_mask"][b].tolist() == [n < n_words for n in range(3)]
        assert not batch["video"][b, n_clips:].any()
    assert batch["video_mask"].dtype == torch.bool and batch["word_mask"].dtype == torch.bool
    np.testing.assert_array_equal(batch["video"][0, :8].numpy(), dataset.features.load("short"))
    assert batch["words"].tolist() == [[5, 6, 7], [9, 0, 0], [1, 4, 0]] and batch["words"].dtype == torch.int64
    assert batch["word_class"].tolist() == [[1, 2, 1], [1, 0, 0], [2, 1, 0]]
    assert batch["start_idx"].tolist() == [1, 0, 12] and batch["end_idx"].tolist() == [4, 19, 12]
    inner = torch.zeros(3, MAX_CLIPS)
    inner[0, 1:5], inner[1, :], inner[2, 12] = 1, 1, 1
    assert torch.equal(batch["inner"], inner)
    assert batch["duration"].tolist() == [16.0, 50.0, 13.0] and batch["duration"].dtype == torch.float32
    torch.testing.assert_close(batch["gt_seconds"], torch.tensor([[3.0, 9.9], [0.0, 50.0], [12.5, 12.9]]))
    assert batch["video_id"] == ["short", "long", "mid"] and batch["sentence"][1] == "cup"


def test_dataset_works_with_a_torch_dataloader():
    loader = torch.utils.data.DataLoader(_dataset(), batch_size=2, collate_fn=collate)
    shapes = [tuple(batch["video"].shape) for batch in loader]
    assert shapes == [(2, MAX_CLIPS, DV), (1, 13, DV)]
