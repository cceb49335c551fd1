"""Datasets for language-driven action localization: annotations, clip features, samples, batches, synthetic data."""

from engine.data.annotations import LineIssue, Moment, SplitReport, load_charades, load_custom, load_tacos
from engine.data.build import build_datasets, summarize
from engine.data.dataset import GroundingDataset, Sample, collate
from engine.data.detr_annotations import load_detr
from engine.data.feature_store import FeatureStore, open_feature_store
from engine.data.features import (
    ArrayFeatures,
    FeatureFileError,
    FeatureScan,
    StoredFeatures,
    check_clip_features,
    read_feature_file,
    resample_clips,
    scan_features,
)

__all__ = [
    "ArrayFeatures",
    "FeatureFileError",
    "FeatureScan",
    "FeatureStore",
    "GroundingDataset",
    "LineIssue",
    "Moment",
    "Sample",
    "SplitReport",
    "StoredFeatures",
    "build_datasets",
    "check_clip_features",
    "collate",
    "load_charades",
    "load_custom",
    "load_detr",
    "load_tacos",
    "open_feature_store",
    "read_feature_file",
    "resample_clips",
    "scan_features",
    "summarize",
]
