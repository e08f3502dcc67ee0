"""Data sets: the `Dataset` type, bundled reference sets and user CSV/Parquet loaders."""

from audit.data.reference import load_reference
from audit.data.registry import REFERENCE_DATASETS
from audit.data.types import Dataset, FeatureSpec, Split
from audit.data.user import count_overlap, load_user_data

__all__ = ["REFERENCE_DATASETS", "Dataset", "FeatureSpec", "Split", "count_overlap", "load_reference", "load_user_data"]
