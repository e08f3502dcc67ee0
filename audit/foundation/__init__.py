"""Foundation-model reference audit: a frozen sentence encoder over serialised Adult rows.

Heavy dependencies (sentence-transformers, transformers) are imported lazily, inside functions, so
`import audit.foundation` works without the `foundation` extra.
"""
