"""Data sets: the `Dataset` type, bundled reference sets and user CSV/Parquet loaders."""

from audit.data.types import Dataset, FeatureSpec, Split

__all__ = ["Dataset", "FeatureSpec", "Split"]
