"""Channel connectors: one module per platform, same small interface (see base.py)."""
