"""Every loss function of DeepLossDive."""

from deeplossdive.losses.binary_cross_entropy import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
)
from deeplossdive.losses.box_iou import (
    complete_box_iou_loss,
    distance_box_iou_loss,
    generalized_box_iou_loss,
)
from deeplossdive.losses.contrastive import contrastive_loss
from deeplossdive.losses.cosine_embedding import cosine_embedding_loss
from deeplossdive.losses.cross_entropy import cross_entropy, nll_loss
from deeplossdive.losses.ctc import ctc_loss
from deeplossdive.losses.dice import dice_loss, sigmoid_dice_loss
from deeplossdive.losses.distillation import distillation_loss
from deeplossdive.losses.focal import focal_loss, sigmoid_focal_loss
from deeplossdive.losses.hinge import hinge_loss, multiclass_hinge_loss
from deeplossdive.losses.jaccard import jaccard_loss, sigmoid_jaccard_loss
from deeplossdive.losses.kl_div import kl_div
from deeplossdive.losses.linear_cross_entropy import linear_cross_entropy
from deeplossdive.losses.margin import (
    hinge_embedding_loss,
    margin_ranking_loss,
    multilabel_margin_loss,
    multilabel_soft_margin_loss,
    soft_margin_loss,
)
from deeplossdive.losses.nt_xent import nt_xent_loss
from deeplossdive.losses.poly1 import poly1_cross_entropy
from deeplossdive.losses.probabilistic_regression import gaussian_nll_loss, poisson_nll_loss
from deeplossdive.losses.regression import (
    huber_loss,
    l1_loss,
    log_cosh_loss,
    mse_loss,
    quantile_loss,
    smooth_l1_loss,
)
from deeplossdive.losses.supervised_contrastive import supervised_contrastive_loss
from deeplossdive.losses.triplet import triplet_margin_loss
from deeplossdive.losses.tversky import sigmoid_tversky_loss, tversky_loss

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "complete_box_iou_loss",
    "contrastive_loss",
    "cosine_embedding_loss",
    "cross_entropy",
    "ctc_loss",
    "dice_loss",
    "distance_box_iou_loss",
    "distillation_loss",
    "focal_loss",
    "gaussian_nll_loss",
    "generalized_box_iou_loss",
    "hinge_embedding_loss",
    "hinge_loss",
    "huber_loss",
    "jaccard_loss",
    "kl_div",
    "l1_loss",
    "linear_cross_entropy",
    "log_cosh_loss",
    "margin_ranking_loss",
    "mse_loss",
    "multiclass_hinge_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "nll_loss",
    "nt_xent_loss",
    "poisson_nll_loss",
    "poly1_cross_entropy",
    "quantile_loss",
    "sigmoid_dice_loss",
    "sigmoid_focal_loss",
    "sigmoid_jaccard_loss",
    "sigmoid_tversky_loss",
    "smooth_l1_loss",
    "soft_margin_loss",
    "supervised_contrastive_loss",
    "triplet_margin_loss",
    "tversky_loss",
]
