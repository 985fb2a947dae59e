"""DeepLossDive: PyTorch loss functions, each checked against a formula-literal oracle."""

from deeplossdive import functional, nn
from deeplossdive._reduction import Reduction
from deeplossdive._validation import set_value_checks, value_checks

__version__ = "0.1.0"

__all__ = ["Reduction", "__version__", "functional", "nn", "set_value_checks", "value_checks"]
