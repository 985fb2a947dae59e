"""Every loss function of DeepLossDive."""

from deeplossdive.losses.binary_cross_entropy import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
)
from deeplossdive.losses.cross_entropy import cross_entropy, nll_loss
from deeplossdive.losses.distillation import distillation_loss
from deeplossdive.losses.focal import focal_loss, sigmoid_focal_loss
from deeplossdive.losses.hinge import hinge_loss, multiclass_hinge_loss
from deeplossdive.losses.kl_div import kl_div
from deeplossdive.losses.poly1 import poly1_cross_entropy

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "distillation_loss",
    "focal_loss",
    "hinge_loss",
    "kl_div",
    "multiclass_hinge_loss",
    "nll_loss",
    "poly1_cross_entropy",
    "sigmoid_focal_loss",
]
