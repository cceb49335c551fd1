"""Embedded synthetic grounding dataset (docs/design.md §7.4): seeded, needs no download; the default
sizes (2800 videos) take about a second to generate. Two versions (``DataConfig.synthetic_version``):
version 2, the default, is version 1 plus a per-clip motion signature (below); version 1 stays
reproducible bit for bit.

**World** (fixed by the seed, shared by all splits): an orthonormal set of ``2 + len(ENTITIES)`` directions
in R^video_dim. The first two span the *motion plane*; the others are the entities' appearance codes.
Version 2 adds ``len(MOTIONS)`` *motion codes*, orthonormal and orthogonal to those (drawn from a stream of
their own, so the plane and the entity codes are the same in both versions).

**Video** of L clips (L uniform in [MIN_CLIPS, MAX_CLIPS]): clip features = one scene vector
(N(0, scene_std²) per dim, constant over the video) + per-clip noise (N(0, noise_std²)) + its events.
An event (entity e, motion m) on clips a..b adds to each clip t of it

- ``ENTITY_AMP * code_e`` (the object is visible), and
- ``MOTION_AMP * (cos θ_t · p1 + sin θ_t · p2)`` with ``θ_t = φ + ω_m (t - a)``, φ uniform: a point turning
  in the motion plane at the motion's angular speed ``ω_m`` (``MOTION_SPEEDS``: ±{1, 2, 3, 4}·π/5 rad
  per clip). Every motion gives a single clip the same distribution (a uniform point of the circle); only
  the turn between consecutive clips tells one motion from another;
- version 2 only: ``motion_signature * code'_m`` (``DataConfig.synthetic_motion_signature``, default
  ``MOTION_SIGNATURE`` = 1.0 = ``ENTITY_AMP``), the motion's own code, on every clip of the event.

*Why version 2.* Real clip features (I3D, C3D) come from 3D convolutions over 16-64 frames, so one ~1 s clip
already encodes its own short-term motion next to its appearance. In version 1 a single clip carries no
motion information at all (a linear read-out of the motion class from one or two consecutive raw clips is
at chance); only the turn between clips does, which a model can reach only by comparing clips. EAMAT's
motion branch reaches its MS-LSTM outputs only through attention (Q, K, V are MS-LSTM encoders) whose scores
start tiny, so on version 1 that attention stays uniform, the motion never reaches the frames and EAMAT
learns to ignore the motion word (R1@0.5 about 38; swapping the motion word changed 6 of 120 predictions).
Version 2 gives every clip what an I3D clip has: appearance (the entity code) and its own motion (the motion
code), plus the cross-clip dynamics of version 1, the scene and the noise. At amplitude 1.0 the motion
is as visible in one clip as the object (single-clip linear read-out of the motion class about 0.8 with
this noise and scene, chance 0.125); weaker signatures make the task harder (0.5: about 0.4).
Both cues remain necessary: the distractors below still share the target's entity or its motion.

Each video holds the target event (e*, m*) and the distractors (e*, m ≠ m*) and (e ≠ e*, m*), plus with
probability 1/2 an event sharing neither; events do not overlap and come in random order with random gaps.
The query is English from templates ("a person opens the door", "the person is holding a cup") naming
e* and m*, so a model that ignores either cue cannot tell the target from one distractor.

Ground truth: the start lies inside clip a (fraction 0.05..0.45 of it), the end inside clip b
(0.55..0.95), at dur/L seconds per clip with dur = L · U(0.8, 1.25) s; all times are rounded to 0.01 s
(so they survive the text format of :func:`write_to_disk` exactly) and map back to clips a..b under
docs/design.md §2.7's ``seconds_to_index``.

Splits draw from independent streams seeded by (seed, split), so a split does not change when another
split's size does. Both versions make the same random draws, so a version 2 video is its version 1 video
(same events, query and times) plus the signatures; ``SyntheticData.events`` lists each video's events
(target first), for probes of what a model uses.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
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
VERSIONS = (1, 2)
VERSION = 2  # the default generator (DataConfig.synthetic_version)
MOTION_SIGNATURE = 1.0  # version 2: default amplitude of the per-clip motion code (data.synthetic_motion_signature)
_MOTION_CODES_STREAM = 0x5EED_C0DE  # second seed word of the stream that draws version 2's motion codes


@dataclass(frozen=True)
class SyntheticWorld:
    """The seed's directions: ``plane`` (2, dv) spans the motion plane, ``entity_codes`` (len(ENTITIES), dv),
    ``motion_codes`` (len(MOTIONS), dv) the per-clip motion signatures of version 2 ((0, dv) in version 1)."""

    plane: np.ndarray
    entity_codes: np.ndarray
    motion_codes: np.ndarray

    @classmethod
    def from_seed(cls, seed: int, video_dim: int = VIDEO_DIM, version: int = VERSION) -> SyntheticWorld:
        _check_version(version)
        needed = 2 + len(ENTITIES) + (len(MOTIONS) if version >= 2 else 0)
        if video_dim < needed:
            raise ValueError(
                f"synthetic version {version}: video_dim must be >= {needed} (motion plane + entity codes"
                f"{' + motion codes' if version >= 2 else ''}), got {video_dim}"
            )
        basis, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(video_dim, 2 + len(ENTITIES))))
        motion_codes = np.zeros((0, video_dim))
        if version >= 2:
            # drawn from a stream of their own and made orthogonal to the version 1 directions, which stay as
            # they are: version 2 = version 1's world plus the motion codes
            raw = np.random.default_rng([seed, _MOTION_CODES_STREAM]).normal(size=(video_dim, len(MOTIONS)))
            motion_codes = np.linalg.qr(raw - basis @ (basis.T @ raw))[0].T.copy()
        return cls(plane=basis[:, :2].T.copy(), entity_codes=basis[:, 2:].T.copy(), motion_codes=motion_codes)


@dataclass(frozen=True)
class Event:
    """One event of a video: ``entity`` / ``motion`` indices into ENTITIES / MOTIONS on clips first..last."""

    entity: int
    motion: int
    first: int
    last: int


@dataclass
class SyntheticData:
    """Moments per split, the (L, video_dim) float32 clip features of every video and its events
    (``events[video_id][0]`` is the query's target; the others follow in temporal order)."""

    moments: dict[str, list[Moment]]
    features: dict[str, np.ndarray]
    world: SyntheticWorld
    events: dict[str, list[Event]] = field(default_factory=dict)


def generate(
    sizes: dict[str, int],
    seed: int,
    video_dim: int = VIDEO_DIM,
    noise_std: float = NOISE_STD,
    scene_std: float = SCENE_STD,
    version: int = VERSION,
    motion_signature: float = MOTION_SIGNATURE,
) -> SyntheticData:
    """``sizes[split]`` videos (one query each) per split of ``SPLITS``; same arguments -> identical data.

    ``version`` 1 is the original set (no per-clip motion information; ``motion_signature`` is ignored);
    version 2 adds ``motion_signature * motion_codes[m]`` to every clip of an event with motion m.
    """
    world = SyntheticWorld.from_seed(seed, video_dim, version)
    signature = motion_signature if version >= 2 else 0.0
    if signature < 0:
        raise ValueError(f"motion_signature must be >= 0, got {motion_signature}")
    data = SyntheticData({}, {}, world)
    for split_index, split in enumerate(SPLITS):
        rng = np.random.default_rng([seed, 1 + split_index])
        data.moments[split] = []
        for i in range(sizes.get(split, 0)):
            video_id = f"synth-{split}-{i:05d}"
            features, moment, events = _video(rng, world, video_id, noise_std, scene_std, signature)
            data.features[video_id] = features
            data.events[video_id] = events
            data.moments[split].append(moment)
    return data


def generate_from_config(config: DataConfig) -> SyntheticData:
    sizes = {"train": config.synthetic_train, "val": config.synthetic_val, "test": config.synthetic_test}
    return generate(
        sizes,
        config.synthetic_seed,
        version=config.synthetic_version,
        motion_signature=config.synthetic_motion_signature,
    )


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


def _check_version(version: int) -> None:
    if version not in VERSIONS:
        raise ValueError(f"synthetic version must be one of {list(VERSIONS)}, got {version!r}")


def _video(
    rng: np.random.Generator,
    world: SyntheticWorld,
    video_id: str,
    noise_std: float,
    scene_std: float,
    signature: float,
) -> tuple[np.ndarray, Moment, list[Event]]:
    """One video. Version 1 when ``signature`` is 0 (the motion codes are then never touched, so the
    arithmetic is exactly the original one); the random draws are the same in both versions."""
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
    placed: list[Event | None] = [None] * len(events)
    for slot, event_index in enumerate(order):
        ent, mot = events[event_index]
        a, n = int(starts[slot]), int(lengths[slot])
        theta = rng.uniform(0.0, 2 * np.pi) + MOTION_SPEEDS[mot] * np.arange(n)
        features[a : a + n] += ENTITY_AMP * world.entity_codes[ent]
        circle = np.stack([np.cos(theta), np.sin(theta)], axis=1)  # (n, 2) coordinates in the motion plane
        features[a : a + n] += MOTION_AMP * circle @ world.plane
        if signature:
            features[a : a + n] += signature * world.motion_codes[mot]
        placed[event_index] = Event(ent, mot, a, a + n - 1)
    target_slot = int(np.flatnonzero(order == 0)[0])
    first, last = int(starts[target_slot]), int(starts[target_slot] + lengths[target_slot] - 1)
    duration = round(num_clips * rng.uniform(0.8, 1.25), 2)
    clip_seconds = duration / num_clips
    start = round((first + rng.uniform(0.05, 0.45)) * clip_seconds, 2)
    end = round((last + rng.uniform(0.55, 0.95)) * clip_seconds, 2)
    moment = Moment(video_id, _sentence(rng, entity, motion), start, end, duration)
    target, *others = placed
    return features.astype(np.float32), moment, [target, *sorted(others, key=lambda ev: ev.first)]


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
