"""bodycam: keep, delete and disclose body-worn video."""

__version__ = "0.1.0"
