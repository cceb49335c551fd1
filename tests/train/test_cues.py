"""The cue report's query edits: motion and entity words swapped for others of the synthetic set's lists."""

import numpy as np

from engine.data.synthetic import ENTITIES, MOTIONS
from train.cues import changed_share, swap_cue

SWAPS = 50  # random swaps checked per cue


def test_motion_swap_keeps_the_form_and_changes_the_motion():
    rng = np.random.default_rng(0)
    forms = list(MOTIONS.values())
    for _ in range(SWAPS):
        for sentence, (m, f) in (("a person opens the door.", (0, 0)), ("the person is holding a cup", (2, 1))):
            words = swap_cue(sentence, "motion", rng).split()
            swapped = next(w for w in words if any(w in fs for fs in forms))
            motion = next(i for i, fs in enumerate(forms) if swapped == fs[f])  # the same form (StopIteration if not)
            assert motion != m


def test_entity_swap_changes_the_entity_and_nothing_else():
    rng = np.random.default_rng(1)
    for _ in range(SWAPS):
        swapped = swap_cue("person opens the door.", "entity", rng)
        head, _, entity = swapped.rstrip(".").rpartition(" ")
        assert head == "person opens the" and entity in ENTITIES and entity != "door"
    assert swap_cue("a person sits down.", "entity", rng) is None  # no entity word: nothing to swap


def test_changed_share_counts_rows_that_differ():
    a = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], [6.0, 7.0]])
    b = a.copy()
    b[1, 0], b[3, 1] = 2.5, 7.5
    assert changed_share(a, a) == 0.0 and changed_share(a, b) == 50.0


def test_a_training_run_reports_its_cues(tiny_run):
    """metrics.json carries the cue report: the share of test predictions each word swap changes, recomputed
    here from the run's best checkpoint."""
    import json

    import torch

    from engine.checkpoint import load_trained
    from engine.config import Config
    from engine.data import build_datasets, collate
    from engine.decoding import decode_spans, index_to_seconds
    from engine.text import TextProcessor
    from train.cues import swapped_dataset

    cues = json.loads((tiny_run / "metrics.json").read_text())["cues"]
    model, config, vocab = load_trained(tiny_run)
    splits, _ = build_datasets(config.data, model=config.model.name)
    text = TextProcessor.for_config(vocab, config)

    def predictions(dataset):
        batch = collate([dataset[i] for i in range(len(dataset))])
        words = torch.tensor([[vocab.stoi.get(t, 1) for t in s.tokens] + [0] * (batch["words"].shape[1] - len(s.tokens))
                              for s in dataset.samples])
        with torch.no_grad():
            out = model(batch["video"], batch["video_mask"], words, batch["word_mask"], batch["word_class"])
        s, e, _ = decode_spans(out["start_logits"], out["end_logits"], batch["video_mask"])
        return torch.stack(index_to_seconds(s, e, batch["num_clips"], batch["duration"]), 1).numpy()

    original = predictions(splits["test"])
    for cue in ("motion", "entity"):
        swapped = predictions(swapped_dataset(splits["test"], cue, text, Config().train.seed))
        assert cues[f"{cue}_swap_changed"] == changed_share(original, swapped), cue
