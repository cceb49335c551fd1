"""Embedded synthetic grounding dataset (SPEC §5): seeded, needs no download; the default
sizes (2800 videos) take about a second to generate.

**World** (fixed by the seed, shared by all splits): an orthonormal set of ``2 + len(ENTITIES)`` directions
in R^video_dim. The first two span the *motion plane*; the others are the entities' appearance codes.

**Video** of L clips (L uniform in [MIN_CLIPS, MAX_CLIPS]): clip features = one scene vector
(N(0, scene_std²) per dim, constant over the video) + per-clip noise (N(0, noise_std²)) + its events.
An event (entity e, motion m) on clips a..b adds to each clip t of it

- ``ENTITY_AMP * code_e`` (the object is visible), and
- ``MOTION_AMP * (cos θ_t · p1 + sin θ_t · p2)`` with ``θ_t = φ + ω_m (t - a)``, φ uniform: a point turning
  in the motion plane at the motion's angular speed ``ω_m`` (``MOTION_SPEEDS``: ±{1, 2, 3, 4}·π/5 rad
  per clip). Every motion gives a single clip the same distribution (a uniform point of the circle); only
  the turn between consecutive clips tells one motion from another.

Each video holds the target event (e*, m*) and the distractors (e*, m ≠ m*) and (e ≠ e*, m*), plus with
probability 1/2 an event sharing neither; events do not overlap and come in random order with random gaps.
The query is English from templates ("a person opens the door", "the person is holding a cup") naming
e* and m*, so a model that ignores either cue cannot tell the target from one distractor.

Ground truth: the start lies inside clip a (fraction 0.05..0.45 of it), the end inside clip b
(0.55..0.95), at dur/L seconds per clip with dur = L · U(0.8, 1.25) s; all times are rounded to 0.01 s
(so they survive the text format of :func:`write_to_disk` exactly) and map back to clips a..b under
SPEC §2.4's ``seconds_to_index``.

Splits draw from independent streams seeded by (seed, split), so a split does not change when another
split's size does.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.config import DataConfig
from engine.data.annotations import SPLITS, Moment

ENTITIES = ("door", "window", "box", "bag", "book", "laptop", "cup", "bottle", "phone", "towel")
# motion -> (3rd person present, -ing form, past); MOTION_SPEEDS[k] is the angular speed of MOTIONS[k]
MOTIONS = {
    "open": ("opens", "opening", "opened"),
    "close": ("closes", "closing", "closed"),
    "hold": ("holds", "holding", "held"),
    "take": ("takes", "taking", "took"),
    "put": ("puts", "putting", "put"),
    "throw": ("throws", "throwing", "threw"),
    "wash": ("washes", "washing", "washed"),
    "push": ("pushes", "pushing", "pushed"),
}
MOTION_SPEEDS = np.pi / 5 * np.array([1, -1, 2, -2, 3, -3, 4, -4], dtype=np.float64)
SUBJECTS = ("a person", "the person", "person", "someone")
TEMPLATES = (
    "{subject} {present} {det} {entity}{tail}",
    "{subject} is {ing} {det} {entity}{tail}",
    "{subject} {past} {det} {entity}{tail}",
)
TAILS = ("", ".", " in the room.")

VIDEO_DIM = 64
MIN_CLIPS, MAX_CLIPS = 24, 64
ENTITY_AMP, MOTION_AMP = 1.0, 1.5
NOISE_STD, SCENE_STD = 0.25, 0.3


@dataclass(frozen=True)
class SyntheticWorld:
    """The seed's directions: ``plane`` (2, dv) spans the motion plane, ``entity_codes`` (len(ENTITIES), dv)."""

    plane: np.ndarray
    entity_codes: np.ndarray

    @classmethod
    def from_seed(cls, seed: int, video_dim: int = VIDEO_DIM) -> SyntheticWorld:
        needed = 2 + len(ENTITIES)
        if video_dim < needed:
            raise ValueError(f"synthetic video_dim must be >= {needed} (motion plane + entity codes), got {video_dim}")
        basis, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(video_dim, needed)))
        return cls(plane=basis[:, :2].T.copy(), entity_codes=basis[:, 2:].T.copy())


@dataclass
class SyntheticData:
    """Moments per split and the (L, video_dim) float32 clip features of every video."""

    moments: dict[str, list[Moment]]
    features: dict[str, np.ndarray]
    world: SyntheticWorld


def generate(
    sizes: dict[str, int],
    seed: int,
    video_dim: int = VIDEO_DIM,
    noise_std: float = NOISE_STD,
    scene_std: float = SCENE_STD,
) -> SyntheticData:
    """``sizes[split]`` videos (one query each) per split of ``SPLITS``; same arguments -> identical data."""
    world = SyntheticWorld.from_seed(seed, video_dim)
    data = SyntheticData({}, {}, world)
    for split_index, split in enumerate(SPLITS):
        rng = np.random.default_rng([seed, 1 + split_index])
        data.moments[split] = []
        for i in range(sizes.get(split, 0)):
            video_id = f"synth-{split}-{i:05d}"
            features, moment = _video(rng, world, video_id, noise_std, scene_std)
            data.features[video_id] = features
            data.moments[split].append(moment)
    return data


def generate_from_config(config: DataConfig) -> SyntheticData:
    sizes = {"train": config.synthetic_train, "val": config.synthetic_val, "test": config.synthetic_test}
    return generate(sizes, config.synthetic_seed)


def write_to_disk(root: str | Path, config: DataConfig | None = None) -> DataConfig:
    """Write the synthetic set of ``config`` in the Charades-STA layout; return a config that loads it.

    ``root/charades_sta_{train,val,test}.txt`` (``VID start end##sentence``; the Charades loader reads a
    ``charades_sta_val.txt`` when present instead of carving val out of train), ``root/charades.json``
    (durations) and ``root/features/<video_id>.npy``.
    """
    config = config or DataConfig()
    root = Path(root)
    data = generate_from_config(config)
    (root / "features").mkdir(parents=True, exist_ok=True)
    for split, moments in data.moments.items():
        lines = [f"{m.video_id} {m.start!r} {m.end!r}##{m.sentence}\n" for m in moments]
        (root / f"charades_sta_{split}.txt").write_text("".join(lines), encoding="utf-8")
    durations = {m.video_id: {"duration": m.duration} for ms in data.moments.values() for m in ms}
    (root / "charades.json").write_text(json.dumps(durations), encoding="utf-8")
    for video_id, features in data.features.items():
        np.save(root / "features" / f"{video_id}.npy", features)
    return dataclasses.replace(config, dataset="charades", annotations=str(root), features=str(root / "features"))


def _video(
    rng: np.random.Generator, world: SyntheticWorld, video_id: str, noise_std: float, scene_std: float
) -> tuple[np.ndarray, Moment]:
    num_clips = int(rng.integers(MIN_CLIPS, MAX_CLIPS + 1))
    entity, motion = int(rng.integers(len(ENTITIES))), int(rng.integers(len(MOTIONS)))
    events = _events(rng, entity, motion)
    order = rng.permutation(len(events))
    lengths = rng.integers(max(3, num_clips // 12), max(3, num_clips // 5) + 1, size=len(events))
    free = num_clips - int(lengths.sum())  # >= 0: at most 4 events of <= L/5 clips
    # sorted cut points in [0, free] place the events in order with random gaps between them
    starts = np.cumsum(lengths) - lengths + np.sort(rng.integers(0, free + 1, size=len(events)))
    video_dim = world.plane.shape[1]
    features = rng.normal(0.0, noise_std, (num_clips, video_dim)) + rng.normal(0.0, scene_std, video_dim)
    for slot, event_index in enumerate(order):
        ent, mot = events[event_index]
        a, n = int(starts[slot]), int(lengths[slot])
        theta = rng.uniform(0.0, 2 * np.pi) + MOTION_SPEEDS[mot] * np.arange(n)
        features[a : a + n] += ENTITY_AMP * world.entity_codes[ent]
        circle = np.stack([np.cos(theta), np.sin(theta)], axis=1)  # (n, 2) coordinates in the motion plane
        features[a : a + n] += MOTION_AMP * circle @ world.plane
    target_slot = int(np.flatnonzero(order == 0)[0])
    first, last = int(starts[target_slot]), int(starts[target_slot] + lengths[target_slot] - 1)
    duration = round(num_clips * rng.uniform(0.8, 1.25), 2)
    clip_seconds = duration / num_clips
    start = round((first + rng.uniform(0.05, 0.45)) * clip_seconds, 2)
    end = round((last + rng.uniform(0.55, 0.95)) * clip_seconds, 2)
    moment = Moment(video_id, _sentence(rng, entity, motion), start, end, duration)
    return features.astype(np.float32), moment


def _events(rng: np.random.Generator, entity: int, motion: int) -> list[tuple[int, int]]:
    """[target, same entity / other motion, other entity / same motion, (sometimes) neither] as (e, m)."""
    num_entities, num_motions = len(ENTITIES), len(MOTIONS)

    def other_entity() -> int:
        return int((entity + rng.integers(1, num_entities)) % num_entities)

    def other_motion() -> int:
        return int((motion + rng.integers(1, num_motions)) % num_motions)

    events = [(entity, motion), (entity, other_motion()), (other_entity(), motion)]
    if rng.random() < 0.5:
        events.append((other_entity(), other_motion()))
    return events


def _sentence(rng: np.random.Generator, entity: int, motion: int) -> str:
    present, ing, past = list(MOTIONS.values())[motion]
    template = TEMPLATES[rng.integers(len(TEMPLATES))]
    return template.format(
        subject=SUBJECTS[rng.integers(len(SUBJECTS))],
        present=present,
        ing=ing,
        past=past,
        det=("a", "the")[rng.integers(2)],
        entity=ENTITIES[entity],
        tail=TAILS[rng.integers(len(TAILS))],
    )
