"""archaeo: open an archaeo-workbench notebook in one command (see docs/researcher-guide.md)."""
__version__ = "0.1.0"
