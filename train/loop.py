"""The training / evaluation loop: :class:`Trainer` (``fit``, ``evaluate``).

Choices (documented for users):

* Optimizer, schedule and clipping: :mod:`train.optim`.
* AMP: ``train.amp`` "auto" = bf16 autocast on CUDA, off on CPU; "fp16" adds a GradScaler.
* Data order depends only on (``train.seed``, epoch) (a seeded :class:`DistributedSampler`, also with
  one process), so ``--resume`` after epoch k continues exactly as an uninterrupted run would (bit-exact
  on CPU; on GPU as exact as the kernels are deterministic).  Resume granularity is one epoch.
* Model selection: the epoch with the best validation R1@0.5, ties broken by mIoU; the test split is
  evaluated once, with ``best.pt``, at the end.  With ``data.val_fraction=0`` (the papers' protocol: the
  whole train split trains, no validation) selection follows EAMAT's code (``main.py`` with ``NO_VAL``):
  the test split is evaluated after every epoch and the epoch with the best test R1@0.7 (ties: the later
  epoch) is kept -- a test-selected figure, which the summary and ``metrics.json`` (``protocol``) state.
* Multi-GPU: ``data.batch_size`` is the global batch; each of N processes takes ``batch_size // N``.
"""

from __future__ import annotations

import copy
import math
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, Subset
from tqdm import tqdm

from engine.atomic import write_json
from engine.checkpoint import (
    BEST,
    LAST,
    checkpoint_payload,
    load_model_state,
    read_checkpoint,
    save_checkpoint,
    vocabulary_of,
)
from engine.config import Config
from engine.data import GroundingDataset, build_datasets, collate
from engine.data.absent import LongVideoWindows
from engine.decoding import decode_spans, index_to_seconds
from engine.metrics import evaluate as span_metrics
from engine.models import build_model, model_inputs, model_spec, set_kernels
from engine.plots import PlotUnavailable
from engine.text import TextProcessor
from engine.vocab import UNK_ID
from kernels.policy import triton_interpreted
from kernels.registry import get_backend
from train import distributed
from train.baselines import baseline_metrics
from train.cues import CUES, changed_share, has_cue_words, swapped_dataset
from train.curves import CURVE_FILE, plot_training_curve
from train.distributed import Process
from train.optim import build_optimizer, clip_gradients, linear_schedule
from train.rng import capture_rng, restore_rng

SELECTION = ("R1@0.5", "mIoU")  # validation metrics compared in this order to pick the best epoch
PAPER_SELECTION = "R1@0.7"  # data.val_fraction=0: EAMAT's code keeps the epoch whose test R1@0.7 >= the best so far
METRICS_FILE = "metrics.json"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _seed_worker(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``train.amp`` on ``device`` (None = full precision)."""
    choices = {"auto": torch.bfloat16 if device.type == "cuda" else None, "bf16": torch.bfloat16,
               "fp16": torch.float16, "off": None}
    if amp not in choices:
        raise ValueError(f"train.amp must be one of {sorted(choices)}, got {amp!r}")
    if choices[amp] is torch.float16 and device.type != "cuda":
        raise ValueError("train.amp='fp16' needs a CUDA device; use 'bf16' or 'off' on CPU")
    return choices[amp]


def better(candidate: dict[str, float], best: dict[str, float] | None, paper: bool = False) -> bool:
    """Whether ``candidate`` beats ``best``: by :data:`SELECTION`, or (``paper``) as EAMAT's code does."""
    if best is None:
        return True
    if paper:
        return candidate[PAPER_SELECTION] >= best[PAPER_SELECTION]
    return tuple(candidate[k] for k in SELECTION) > tuple(best[k] for k in SELECTION)


def protocol(cfg: Config, splits: dict[str, GroundingDataset]) -> dict[str, Any]:
    """How the run validates and selects its model (``metrics.json`` ``protocol``; ``summary`` is printed)."""
    if cfg.data.val_fraction == 0:
        return {"validation": "none", "selection_split": "test", "val_fraction": 0.0,
                "selection": f"test {PAPER_SELECTION} after every epoch, ties to the later epoch (EAMAT's code)",
                "summary": "protocol: the papers' -- trained on the whole train split, no validation split; the "
                           f"epoch with the best test {PAPER_SELECTION} is kept, as the authors' code does, so the "
                           "test figures are selected on test (optimistic, not a held-out estimate)"}
    source = splits["val"].report.source or "the dataset's val split"
    return {"validation": source, "selection_split": "val", "val_fraction": cfg.data.val_fraction,
            "selection": f"validation {SELECTION[0]} (ties: {SELECTION[1]})",
            "summary": f"protocol: model selected on a validation split of {len(splits['val'])} queries ({source}); "
                       "best.pt is then tested once"}


@dataclass
class Evaluation:
    """Metrics of one split plus the per-sample predictions (seconds), in dataset order."""

    metrics: dict[str, float]
    pred_seconds: np.ndarray
    gt_seconds: np.ndarray
    durations: np.ndarray
    usage: dict[str, dict[str, float]] = field(default_factory=dict)  # {choice name: {value: share}} (DP's pathway)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.metrics, "num_samples": len(self.durations)}
        out.update({f"{name}_usage": shares for name, shares in self.usage.items()})
        return out


class Trainer:
    """Builds data, model and optimizer from a :class:`Config`; ``fit()`` trains, ``evaluate()`` scores.

    ``checkpoint`` (a dict read from ``last.pt`` / ``best.pt``) starts from its weights; with
    ``resume=True`` it also restores optimizer, scheduler, RNG states, epoch and history.
    """

    def __init__(
        self,
        cfg: Config,
        process: Process | None = None,
        device: torch.device | str = "cpu",
        checkpoint: dict[str, Any] | None = None,
        resume: bool = False,
        progress: bool = True,
    ) -> None:
        cfg = self.cfg = copy.deepcopy(cfg)  # the trainer's own copy: the data fills in the model's sizes
        self.process = process or Process()
        self.device, self.progress = torch.device(device), progress
        self.run_dir = Path(cfg.train.out_dir)
        seed_everything(cfg.train.seed + self.process.rank)
        self.amp_dtype = autocast_dtype(cfg.train.amp, self.device)
        needs_triton = cfg.model.kernels != "auto" and get_backend(cfg.model.kernels).needs_triton
        if needs_triton and self.device.type != "cuda" and not triton_interpreted():
            raise ValueError(f"model.kernels={cfg.model.kernels!r} needs a CUDA device (or TRITON_INTERPRET=1 for "
                             "CPU testing); use 'auto' or 'reference' on CPU")

        self.splits, data_vocab = build_datasets(cfg.data, model=cfg.model.name)
        # a checkpoint brings its own vocabulary: the data's word ids are mapped onto it (unknown -> <unk>)
        self.vocab = vocabulary_of(checkpoint) if checkpoint is not None else data_vocab
        self.word_map = None if self.vocab.itos == data_vocab.itos else torch.tensor(
            [self.vocab.stoi.get(w, UNK_ID) for w in data_vocab.itos], device=self.device)
        cfg.model.video_dim = self.splits["train"].video_dim
        cfg.model.vocab_size, cfg.model.word_dim = self.vocab.vectors.shape
        self.model = build_model(cfg, word_vectors=self.vocab.vectors).to(self.device)
        set_kernels(self.model, cfg.model.kernels)
        if checkpoint is not None:
            load_model_state(self.model, checkpoint["model"], checkpoint["path"])

        world = self.process.world_size
        self.batch_size = max(1, cfg.data.batch_size // world)
        # windows of long inputs (engine.data.absent) only in the training loader: the splits stay the moments
        self.train_items = LongVideoWindows(self.splits["train"], cfg.train.absent_fraction,
                                            cfg.train.mixed_fraction, cfg.train.seed, cfg.train.absent_source)
        train_items = self.train_items
        self.sampler = DistributedSampler(
            train_items, num_replicas=world, rank=self.process.rank, shuffle=True, seed=cfg.train.seed
        )
        self.loader_generator = torch.Generator()
        self.train_loader = DataLoader(
            train_items, batch_size=self.batch_size, sampler=self.sampler, collate_fn=collate,
            num_workers=cfg.data.num_workers, worker_init_fn=_seed_worker, generator=self.loader_generator,
            pin_memory=self.device.type == "cuda",
        )
        self.train_model: nn.Module = self.model
        if self.process.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = DistributedDataParallel(self.model, device_ids=ids)

        self.optimizer = build_optimizer(self.model, cfg.optim)
        total_steps = max(1, cfg.train.epochs * len(self.train_loader))
        self.scheduler = linear_schedule(self.optimizer, total_steps, cfg.optim.warmup_fraction)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype is torch.float16)

        self.epoch = 0  # epochs completed
        self.best: dict[str, Any] | None = None  # {"epoch", "metrics"} of the best validation epoch
        self.history: list[dict[str, Any]] = []
        self.curve_skipped = False  # no matplotlib: the training curve is skipped (reported once)
        if resume and checkpoint is not None:
            self._restore(checkpoint)

    # ------------------------------------------------------------------ state
    def _restore(self, ckpt: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch, self.best, self.history = ckpt["epoch"], ckpt["best"], ckpt["history"]
        states = ckpt["rng"]
        if len(states) != self.process.world_size and self.process.is_main:
            print(f"warning: checkpoint saved by {len(states)} process(es), resuming with "
                  f"{self.process.world_size}: the run continues but is not bit-identical")
        restore_rng(states[min(self.process.rank, len(states) - 1)])

    def save(self, improved: bool) -> None:
        """``best.pt`` (weights) when ``improved``, then ``last.pt`` (everything). Collective under DDP."""
        rng = distributed.gather_objects(capture_rng(), self.process)
        if self.process.is_main:
            payload = checkpoint_payload(self.model, self.cfg, self.vocab, self.epoch, self.best, self.history)
            if improved:
                save_checkpoint(payload, self.run_dir / BEST)
            save_checkpoint({**payload, "optimizer": self.optimizer.state_dict(),
                         "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                         "rng": rng}, self.run_dir / LAST)
        distributed.barrier()

    # ------------------------------------------------------------------ steps
    def _autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        batch = {k: v.to(self.device, non_blocking=True) if isinstance(v, torch.Tensor) else v
                 for k, v in batch.items()}
        if self.word_map is not None:
            batch["words"] = self.word_map[batch["words"]]
        return batch

    def _forward(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return model(*model_inputs(batch))

    def train_epoch(self) -> dict[str, float]:
        """One pass over this rank's shard of the training split; returns mean losses and samples/s."""
        self.sampler.set_epoch(self.epoch)
        self.train_items.set_epoch(self.epoch)
        self.loader_generator.manual_seed(self.cfg.train.seed * 100_003 + self.epoch)  # worker seeds per epoch
        self.train_model.train()
        sums: dict[str, float] = {}
        seen, start = 0, time.perf_counter()
        bar = tqdm(self.train_loader, desc=f"epoch {self.epoch + 1}/{self.cfg.train.epochs}", leave=False,
                   disable=not (self.progress and self.process.is_main), dynamic_ncols=True)
        for step, batch in enumerate(bar):
            batch = self._to_device(batch)
            with self._autocast():
                loss, parts = self.model.loss(self._forward(self.train_model, batch), batch)
            if not math.isfinite(parts["total"]):
                raise FloatingPointError(f"loss is {parts['total']} at epoch {self.epoch + 1} step {step}: "
                                         "lower optim.lr or check the data")
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if self.cfg.optim.grad_clip > 0:
                self.scaler.unscale_(self.optimizer)
                clip_gradients(self.model, self.cfg.optim)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            n = len(batch["video_id"])
            seen += n
            for name, value in parts.items():
                sums[name] = sums.get(name, 0.0) + value * n
            rate = seen * self.process.world_size / (time.perf_counter() - start)
            bar.set_postfix(loss=f"{parts['total']:.3f}", samples_s=f"{rate:.1f}")
        bar.close()
        stats = {f"loss_{name}": total / max(seen, 1) for name, total in sums.items()}
        stats["samples_per_s"] = seen * self.process.world_size / (time.perf_counter() - start)
        return stats

    @torch.no_grad()
    def evaluate(self, split: str | GroundingDataset) -> Evaluation:
        """Decode the best span of every sample of ``split`` (a split's name or a dataset; sharded across ranks,
        gathered) and score it."""
        dataset = self.splits[split] if isinstance(split, str) else split
        indices = distributed.shard(len(dataset), self.process)
        loader = DataLoader(Subset(dataset, indices), batch_size=self.batch_size, shuffle=False,
                            collate_fn=collate, num_workers=self.cfg.data.num_workers)
        self.model.eval()  # the bare module: ranks may hold different numbers of batches
        choice = model_spec(self.cfg.model.name).choice
        rows: list[np.ndarray] = []
        offset = 0
        for batch in loader:
            batch = self._to_device(batch)
            with self._autocast():
                out = self._forward(self.model, batch)
            s, e, _ = decode_spans(out["start_logits"].float(), out["end_logits"].float(), batch["video_mask"])
            t_s, t_e = index_to_seconds(s, e, batch["num_clips"], batch["duration"])
            n = len(s)
            path = (out[choice.output].double() if choice and choice.output in out
                    else torch.full((n,), -1.0, dtype=torch.float64))
            rows.append(torch.stack([
                torch.tensor(indices[offset:offset + n], dtype=torch.float64), t_s.cpu(), t_e.cpu(),
                batch["gt_seconds"][:, 0].double().cpu(), batch["gt_seconds"][:, 1].double().cpu(),
                batch["duration"].double().cpu(), path.cpu(),
            ], dim=1).numpy())
            offset += n
        local = np.concatenate(rows) if rows else np.zeros((0, 7))
        table = np.concatenate(distributed.gather_objects(local, self.process))
        table = table[np.argsort(table[:, 0], kind="stable")]
        pred, gt, dur, path = table[:, 1:3], table[:, 3:5], table[:, 5], table[:, 6]
        windows = [dataset.samples[int(i)].windows for i in table[:, 0]]  # a multi-window query: a hit on any
        usage = {}
        if (path >= 0).any():
            usage = {choice.name: {value: float(np.mean(path == i)) for i, value in enumerate(choice.values)}}
        return Evaluation(span_metrics(pred, gt, dur, windows), pred, gt, dur, usage)

    def split_labels(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(gt_seconds (n, 2), durations (n,)) of a split, read through the loader."""
        loader = DataLoader(self.splits[split], batch_size=64, shuffle=False, collate_fn=collate)
        batches = list(loader)
        return (torch.cat([b["gt_seconds"] for b in batches]).double().numpy(),
                torch.cat([b["duration"] for b in batches]).double().numpy())

    def baselines(self, evaluation: Evaluation) -> dict[str, dict[str, float]]:
        train_gt, train_dur = self.split_labels("train")
        return baseline_metrics(train_gt, train_dur, evaluation.gt_seconds, evaluation.durations,
                                self.cfg.train.seed)

    # ------------------------------------------------------------------ fit
    def fit(self, stop_after: int | None = None) -> dict[str, Any] | None:
        """Train the remaining epochs (validating and checkpointing each), then test ``best.pt``.

        Returns (and rank 0 writes to ``metrics.json``) the test metrics of the best epoch, its
        validation metrics, both baselines on the test split, and the per-epoch history.
        ``stop_after=k`` stops once epoch k is checkpointed and returns None (continue with ``--resume``).
        """
        if self.process.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            write_config(self.cfg, self.run_dir)
        started = time.perf_counter()
        rule = protocol(self.cfg, self.splits)
        selection_split, paper = rule["selection_split"], rule["selection_split"] == "test"
        last_epoch = self.cfg.train.epochs if stop_after is None else min(stop_after, self.cfg.train.epochs)
        while self.epoch < last_epoch:
            stats = self.train_epoch()
            val = self.evaluate(selection_split)  # "val" of the history: the split the epoch is selected on
            self.epoch += 1
            improved = better(val.metrics, self.best["metrics"] if self.best else None, paper)
            if improved:
                self.best = {"epoch": self.epoch, "metrics": val.metrics}
            self.history.append({"epoch": self.epoch, **stats, "val": val.summary(),
                                 "lr": self.scheduler.get_last_lr()[0]})
            self.save(improved)
            if self.process.is_main:
                print(epoch_line(self.history[-1], self.cfg.train.epochs, improved, selection_split), flush=True)
                self.write_curve()
        if self.epoch < self.cfg.train.epochs:
            return None
        if self.best is None:
            raise ValueError(f"train.epochs={self.cfg.train.epochs}: nothing trained, no best checkpoint")
        best = read_checkpoint(self.run_dir / BEST, map_location=self.device)
        load_model_state(self.model, best["model"], best["path"])
        test = self.evaluate("test")
        results = {
            "model": self.cfg.model.name,
            "best_epoch": self.best["epoch"],
            "selection": rule["selection"],
            "protocol": rule,
            "clip_seconds": self.cfg.data.clip_seconds,
            "feature_recipe": self.cfg.data.feature_recipe,
            "val": self.best["metrics"],
            "test": test.summary(),
            "baselines": self.baselines(test),
            "cues": self.cue_report(test),
            "history": self.history,
            "train_seconds_this_session": time.perf_counter() - started,
        }
        if paper:
            results["test_last_epoch"] = self.history[-1]["val"]
        if self.process.is_main:
            write_json(results, self.run_dir / METRICS_FILE)
        return results

    def cue_report(self, test: Evaluation) -> dict[str, Any]:
        """Share (%) of test predictions that change when each query's motion word, or its entity word, is
        swapped for another (:mod:`train.cues`); the share of each value of the model's choice (DP's pathway).
        Synthetic data only."""
        dataset = self.splits["test"]
        report: dict[str, Any] = {f"{name}_usage": shares for name, shares in test.usage.items()}
        if self.cfg.data.dataset != "synthetic" or not has_cue_words(dataset.samples):
            return {**report, "skipped": "the cue report needs the synthetic set's entity / motion word lists"}
        text = TextProcessor.for_config(self.vocab, self.cfg)
        for cue in CUES:
            swapped = self.evaluate(swapped_dataset(dataset, cue, text, self.cfg.train.seed))
            report[f"{cue}_swap_changed"] = changed_share(test.pred_seconds, swapped.pred_seconds)
        return report

    def write_curve(self) -> None:
        """``training_curve.png`` in the run directory (losses and validation metrics per epoch); a picture that
        cannot be drawn (no matplotlib) is reported once and skipped, never stopping the run."""
        if self.curve_skipped:
            return
        try:
            plot_training_curve(self.history, self.run_dir / CURVE_FILE, f"{self.cfg.model.name}, {self.run_dir}")
        except PlotUnavailable as err:
            self.curve_skipped = True
            print(f"warning: no {CURVE_FILE}: {err}", flush=True)



def epoch_line(record: dict[str, Any], epochs: int, improved: bool, split: str = "val") -> str:
    val = record["val"]
    return (f"epoch {record['epoch']:>3}/{epochs}  loss {record['loss_total']:.4f}  "
            f"{record['samples_per_s']:.1f} samples/s  {split} R1@0.3 {val['R1@0.3']:.2f}  R1@0.5 {val['R1@0.5']:.2f}  "
            f"R1@0.7 {val['R1@0.7']:.2f}  mIoU {val['mIoU']:.2f}" + ("  *best" if improved else ""))


def write_config(cfg: Config, run_dir: Path) -> None:
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    write_json(cfg.to_dict(), run_dir / "config.json")
