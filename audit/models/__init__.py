"""Models: the reference zoo, loaders for user models, and `ModelUnderAudit`."""

from audit.models.types import ModelSource, ModelUnderAudit, Recipe

__all__ = ["ModelSource", "ModelUnderAudit", "Recipe"]
