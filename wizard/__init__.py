"""wrnv-wizard engine: plain Python, no textual. Screens and the CLI drive these objects."""

__version__ = "0.1.0"
