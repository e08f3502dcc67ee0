"""Text-specific suites for models over sentence embeddings (`ModelUnderAudit.encoder` + raw text)."""
