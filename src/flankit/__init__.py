"""flankit: instruction-finetune and evaluate language models the Flan way.

Importing the package loads nothing heavy; every subsystem is imported on use.
"""

from flankit.errors import FlankitError

__version__ = "0.1.0"
__all__ = ["FlankitError", "__version__"]
