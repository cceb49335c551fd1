"""engine.data.absent: training windows of long inputs (without the target, or among other videos' clips)."""

import numpy as np
import pytest
import torch

from engine.data import ArrayFeatures, GroundingDataset, Sample, collate
from engine.data.absent import MIN_ABSENT_CLIPS, LongVideoWindows

CLIPS, WINDOW, DIM = 12, 20, 3  # videos of 12 clips, windows (max_clips) of 20
VIDEOS = "abcde"
DURATION = float(CLIPS)  # one second per clip


def sample(video_id: str, sentence: str, start: float, end: float) -> Sample:
    return Sample(video_id, sentence, start, end, DURATION, ("open", "door"), (2, 3), (2, 1))


def clip_names(video: torch.Tensor) -> list[tuple[str, int]]:
    """(video, clip) of each clip: channel 0 holds the video's index, channel 1 the clip's."""
    return [(VIDEOS[int(v)], int(t)) for v, t in video[:, :2].tolist()]


@pytest.fixture
def dataset() -> GroundingDataset:
    videos = {v: np.stack([np.full(CLIPS, i), np.arange(CLIPS), np.zeros(CLIPS)], 1).astype(np.float32)
              for i, v in enumerate(VIDEOS)}
    samples = [sample("a", "open door", 5.2, 8.7),          # clips 5..8
               sample("b", "open door", 0.2, 10.9),         # clips 0..10: too little left
               sample("c", "open door", 2.1, 3.9),          # clips 2..3, and the same sentence again at 7..8
               sample("c", "open door", 7.1, 8.9),
               sample("d", "close box", 4.1, 5.9),
               sample("e", "close box", 1.1, 2.9)]
    return GroundingDataset(samples, ArrayFeatures(videos, WINDOW))


def test_no_fraction_adds_nothing(dataset: GroundingDataset):
    plain = LongVideoWindows(dataset, 0.0)
    assert len(plain) == len(dataset)
    assert all(torch.equal(plain[i]["video"], dataset[i]["video"]) and "present" not in plain[i]
               for i in range(len(dataset)))
    for bad in ({"absent_fraction": 1.5}, {"absent_fraction": 0.0, "mixed_fraction": -0.1}):
        with pytest.raises(ValueError, match="fraction"):
            LongVideoWindows(dataset, **bad)


def test_own_absent_windows_cut_out_every_moment_of_their_query(dataset: GroundingDataset):
    items = LongVideoWindows(dataset, 1.0, absent_source="own")
    kept = {0: [t for t in range(CLIPS) if not 5 <= t <= 8], 2: [t for t in range(CLIPS) if t not in (2, 3, 7, 8)],
            4: [t for t in range(CLIPS) if t not in (4, 5)]}
    for index, clips in kept.items():
        item = items[len(dataset) + index]
        assert item["present"] is False
        assert clip_names(item["video"]) == [(dataset.samples[index].video_id, t) for t in clips]
    with pytest.raises(ValueError, match="absent_source"):
        LongVideoWindows(dataset, 1.0, absent_source="elsewhere")


def test_absent_windows_are_other_videos_without_the_query(dataset: GroundingDataset):
    items = LongVideoWindows(dataset, 1.0, absent_source="others")
    assert len(items) == 2 * len(dataset)
    for index in (0, 2, 3, 4, 5):
        item = items[len(dataset) + index]
        names = clip_names(item["video"])
        assert item["present"] is False and len(names) == WINDOW
        holding = {"a", "b", "c"} if item["sentence"] == "open door" else {"d", "e"}
        assert not {v for v, _ in names} & holding  # no video with an annotation of the same sentence
        runs = [names[i + 1] == (names[i][0], names[i][1] + 1) or names[i + 1][1] == 0 for i in range(WINDOW - 1)]
        assert all(runs)  # consecutive clips of whole videos
    assert "present" not in items[len(dataset) + 1] and len(range(CLIPS)) - 11 < MIN_ABSENT_CLIPS  # keeps target
    batch = collate([items[0], items[len(dataset)]])
    assert batch["present"].tolist() == [True, False]
    assert batch["inner"][0].sum() == 4 and batch["inner"][1].sum() == 0
    assert "present" not in collate([items[0], items[1]])  # batches of moments only: as before


def test_without_other_videos_an_absent_window_is_its_own_video_with_the_moments_cut_out(
        dataset: GroundingDataset):
    lonely = GroundingDataset([s for s in dataset.samples if s.video_id == "c"], dataset.features)
    item = LongVideoWindows(lonely, 1.0, absent_source="others")[len(lonely)]
    kept = [t for t in range(CLIPS) if t not in (2, 3, 7, 8)]
    names = clip_names(item["video"])
    assert item["present"] is False and len(names) == WINDOW and {v for v, _ in names} == {"c"}
    clips = [t for _, t in names]
    assert any(clips == (kept * 4)[start:start + WINDOW] for start in range(len(kept)))  # a stretch of repeats


def test_mixed_windows_move_the_labels_with_the_video(dataset: GroundingDataset):
    items = LongVideoWindows(dataset, 0.0, 1.0, seed=3)
    for index in range(len(dataset)):
        item, plain = items[index], dataset[index]
        names = clip_names(item["video"])
        assert len(names) == WINDOW and "present" not in item
        first = names.index((plain["video_id"], 0))
        assert names[first:first + CLIPS] == [(plain["video_id"], t) for t in range(CLIPS)]
        assert (item["start_idx"], item["end_idx"]) == (plain["start_idx"] + first, plain["end_idx"] + first)
    again = LongVideoWindows(dataset, 0.0, 1.0, seed=3)
    assert all(torch.equal(items[i]["video"], again[i]["video"]) for i in range(len(dataset)))  # resumable
    again.set_epoch(1)
    assert any(not torch.equal(items[i]["video"], again[i]["video"]) for i in range(len(dataset)))


LOOKALIKE_SENTENCES = {  # video -> its one moment's sentence; a content word is in at most 3 of the 16 (< 20 %)
    "f": "a person opens the door", "g": "a person closes the door", "h": "a person opens the box",
    "i": "a person takes the cup", "j": "a person washes the cup", "k": "a person throws the bag",
    "l": "a person pushes the book", "m": "a person holds the phone", "n": "a person puts the towel",
    "o": "a person opening the door",  # the same moment in other words: never a look-alike of f's
    "p": "a person drinks water", "q": "a person eats food", "r": "a person sits on a chair",
    "s": "a person reads a paper", "t": "a person laughs", "u": "a person sneezes",
}
LOOKALIKE_VIDEOS = "".join(LOOKALIKE_SENTENCES)


def test_similar_absent_windows_hold_a_look_alike_moment_of_another_video():
    videos = {v: np.stack([np.full(CLIPS, i), np.arange(CLIPS), np.zeros(CLIPS)], 1).astype(np.float32)
              for i, v in enumerate(LOOKALIKE_VIDEOS)}
    samples = [sample(v, sentence, 4.1, 6.9) for v, sentence in LOOKALIKE_SENTENCES.items()]  # clips 4..6
    dataset = GroundingDataset(samples, ArrayFeatures(videos, WINDOW))
    items = LongVideoWindows(dataset, 1.0, absent_source="similar")
    seen = set()
    for epoch in range(8):
        items.set_epoch(epoch)
        item = items[len(dataset)]  # the absent window of f's "a person opens the door"
        names = [(LOOKALIKE_VIDEOS[int(v)], int(t)) for v, t in item["video"][:, :2].tolist()]
        assert item["present"] is False and len(names) == WINDOW
        holding = [v for v in "gh" if all((v, t) in names for t in (4, 5, 6))]
        assert holding and not {v for v, _ in names} & {"f", "o"}
        first, last = item["lookalike"]
        assert names[first:last + 1] == [(holding[0], t) for t in (4, 5, 6)]
        seen.update(holding)
    assert seen == {"g", "h"}  # the door closed, the box opened; never the door opening in other words
    lonely = LongVideoWindows(GroundingDataset(samples[4:6], dataset.features), 1.0, absent_source="similar")
    assert lonely[2]["present"] is False  # no look-alike: other videos' clips, as with absent_source="others"
    assert "lookalike" not in lonely[2]


def test_collate_marks_the_look_alike_clips_of_absent_windows_only(dataset: GroundingDataset):
    absent = {**dataset[4], "present": False, "lookalike": (3, 5)}
    batch = collate([dataset[0], absent])
    assert batch["lookalike"][0].sum() == 0
    assert batch["lookalike"][1].nonzero().squeeze(1).tolist() == [3, 4, 5]
    assert "lookalike" not in collate([dataset[0], dataset[4]])
