"""Datasets for language-driven action localization: annotations, clip features, samples, batches, synthetic data."""

from engine.data.annotations import LineIssue, Moment, SplitReport, load_charades, load_custom, load_tacos
from engine.data.build import build_datasets, summarize
from engine.data.dataset import GroundingDataset, Sample, collate
from engine.data.features import (
    ArrayFeatures,
    FeatureFileError,
    FeatureScan,
    NpyFeatures,
    check_clip_features,
    read_feature_file,
    resample_clips,
    scan_features,
)

__all__ = [
    "ArrayFeatures",
    "FeatureFileError",
    "FeatureScan",
    "GroundingDataset",
    "LineIssue",
    "Moment",
    "NpyFeatures",
    "Sample",
    "SplitReport",
    "build_datasets",
    "check_clip_features",
    "collate",
    "load_charades",
    "load_custom",
    "load_tacos",
    "read_feature_file",
    "resample_clips",
    "scan_features",
    "summarize",
]
