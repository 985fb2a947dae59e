"""Every loss module of DeepLossDive: thin `nn.Module` wrappers over `deeplossdive.functional`."""

from deeplossdive._base import Loss
from deeplossdive.losses.binary_cross_entropy import BCELoss, BCEWithLogitsLoss
from deeplossdive.losses.cross_entropy import CrossEntropyLoss, NLLLoss
from deeplossdive.losses.distillation import DistillationLoss
from deeplossdive.losses.focal import FocalLoss, SigmoidFocalLoss
from deeplossdive.losses.hinge import HingeLoss, MulticlassHingeLoss
from deeplossdive.losses.kl_div import KLDivLoss
from deeplossdive.losses.poly1 import Poly1CrossEntropyLoss

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "DistillationLoss",
    "FocalLoss",
    "HingeLoss",
    "KLDivLoss",
    "Loss",
    "MulticlassHingeLoss",
    "NLLLoss",
    "Poly1CrossEntropyLoss",
    "SigmoidFocalLoss",
]
