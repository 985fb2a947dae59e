"""Every loss function of DeepLossDive, and its helpers."""

from deeplossdive._class_weights import class_balanced_weights
from deeplossdive.losses.angular_margin import arcface_loss, cosface_loss
from deeplossdive.losses.asymmetric import asymmetric_loss
from deeplossdive.losses.binary_cross_entropy import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
)
from deeplossdive.losses.box_iou import (
    complete_box_iou_loss,
    distance_box_iou_loss,
    generalized_box_iou_loss,
)
from deeplossdive.losses.clip import clip_loss, siglip_loss
from deeplossdive.losses.contrastive import contrastive_loss
from deeplossdive.losses.cosine_embedding import cosine_embedding_loss
from deeplossdive.losses.cross_entropy import cross_entropy, nll_loss
from deeplossdive.losses.ctc import ctc_loss
from deeplossdive.losses.dice import dice_loss, sigmoid_dice_loss
from deeplossdive.losses.distillation import distillation_loss
from deeplossdive.losses.focal import focal_loss, sigmoid_focal_loss
from deeplossdive.losses.generalized_dice import (
    generalized_dice_loss,
    sigmoid_generalized_dice_loss,
)
from deeplossdive.losses.hinge import hinge_loss, multiclass_hinge_loss
from deeplossdive.losses.jaccard import jaccard_loss, sigmoid_jaccard_loss
from deeplossdive.losses.kl_div import kl_div
from deeplossdive.losses.linear_cross_entropy import linear_cross_entropy
from deeplossdive.losses.lovasz import lovasz_hinge_loss, lovasz_softmax_loss
from deeplossdive.losses.margin import (
    hinge_embedding_loss,
    margin_ranking_loss,
    multilabel_margin_loss,
    multilabel_soft_margin_loss,
    soft_margin_loss,
)
from deeplossdive.losses.nt_xent import nt_xent_loss
from deeplossdive.losses.poly1 import poly1_cross_entropy
from deeplossdive.losses.preference import dpo_loss, sequence_log_probs, simpo_loss
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
    "arcface_loss",
    "asymmetric_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "class_balanced_weights",
    "clip_loss",
    "complete_box_iou_loss",
    "contrastive_loss",
    "cosface_loss",
    "cosine_embedding_loss",
    "cross_entropy",
    "ctc_loss",
    "dice_loss",
    "distance_box_iou_loss",
    "distillation_loss",
    "dpo_loss",
    "focal_loss",
    "gaussian_nll_loss",
    "generalized_box_iou_loss",
    "generalized_dice_loss",
    "hinge_embedding_loss",
    "hinge_loss",
    "huber_loss",
    "jaccard_loss",
    "kl_div",
    "l1_loss",
    "linear_cross_entropy",
    "log_cosh_loss",
    "lovasz_hinge_loss",
    "lovasz_softmax_loss",
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
    "sequence_log_probs",
    "siglip_loss",
    "sigmoid_dice_loss",
    "sigmoid_focal_loss",
    "sigmoid_generalized_dice_loss",
    "sigmoid_jaccard_loss",
    "sigmoid_tversky_loss",
    "simpo_loss",
    "smooth_l1_loss",
    "soft_margin_loss",
    "supervised_contrastive_loss",
    "triplet_margin_loss",
    "tversky_loss",
]
