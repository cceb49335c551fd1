"""Datasets for language-driven action localization: annotations, clip features, samples, batches, synthetic data."""

from engine.data.annotations import Moment, SplitReport, load_charades, load_tacos
from engine.data.build import build_datasets, summarize
from engine.data.dataset import GroundingDataset, Sample, collate
from engine.data.features import ArrayFeatures, NpyFeatures, resample_clips

__all__ = [
    "ArrayFeatures",
    "GroundingDataset",
    "Moment",
    "NpyFeatures",
    "Sample",
    "SplitReport",
    "build_datasets",
    "collate",
    "load_charades",
    "load_tacos",
    "resample_clips",
    "summarize",
]
