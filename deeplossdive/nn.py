"""Every loss module of DeepLossDive: thin `nn.Module` wrappers over `deeplossdive.functional`."""

from deeplossdive._base import Loss
from deeplossdive.losses.binary_cross_entropy import BCELoss, BCEWithLogitsLoss
from deeplossdive.losses.box_iou import (
    CompleteBoxIoULoss,
    DistanceBoxIoULoss,
    GeneralizedBoxIoULoss,
)
from deeplossdive.losses.contrastive import ContrastiveLoss
from deeplossdive.losses.cosine_embedding import CosineEmbeddingLoss
from deeplossdive.losses.cross_entropy import CrossEntropyLoss, NLLLoss
from deeplossdive.losses.ctc import CTCLoss
from deeplossdive.losses.dice import DiceLoss, SigmoidDiceLoss
from deeplossdive.losses.distillation import DistillationLoss
from deeplossdive.losses.focal import FocalLoss, SigmoidFocalLoss
from deeplossdive.losses.hinge import HingeLoss, MulticlassHingeLoss
from deeplossdive.losses.jaccard import JaccardLoss, SigmoidJaccardLoss
from deeplossdive.losses.kl_div import KLDivLoss
from deeplossdive.losses.linear_cross_entropy import LinearCrossEntropyLoss
from deeplossdive.losses.margin import (
    HingeEmbeddingLoss,
    MarginRankingLoss,
    MultiLabelMarginLoss,
    MultiLabelSoftMarginLoss,
    SoftMarginLoss,
)
from deeplossdive.losses.nt_xent import NTXentLoss
from deeplossdive.losses.poly1 import Poly1CrossEntropyLoss
from deeplossdive.losses.probabilistic_regression import GaussianNLLLoss, PoissonNLLLoss
from deeplossdive.losses.regression import (
    HuberLoss,
    L1Loss,
    LogCoshLoss,
    MSELoss,
    QuantileLoss,
    SmoothL1Loss,
)
from deeplossdive.losses.supervised_contrastive import SupervisedContrastiveLoss
from deeplossdive.losses.triplet import TripletMarginLoss
from deeplossdive.losses.tversky import SigmoidTverskyLoss, TverskyLoss

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CTCLoss",
    "CompleteBoxIoULoss",
    "ContrastiveLoss",
    "CosineEmbeddingLoss",
    "CrossEntropyLoss",
    "DiceLoss",
    "DistanceBoxIoULoss",
    "DistillationLoss",
    "FocalLoss",
    "GaussianNLLLoss",
    "GeneralizedBoxIoULoss",
    "HingeEmbeddingLoss",
    "HingeLoss",
    "HuberLoss",
    "JaccardLoss",
    "KLDivLoss",
    "L1Loss",
    "LinearCrossEntropyLoss",
    "LogCoshLoss",
    "Loss",
    "MSELoss",
    "MarginRankingLoss",
    "MultiLabelMarginLoss",
    "MultiLabelSoftMarginLoss",
    "MulticlassHingeLoss",
    "NLLLoss",
    "NTXentLoss",
    "PoissonNLLLoss",
    "Poly1CrossEntropyLoss",
    "QuantileLoss",
    "SigmoidDiceLoss",
    "SigmoidFocalLoss",
    "SigmoidJaccardLoss",
    "SigmoidTverskyLoss",
    "SmoothL1Loss",
    "SoftMarginLoss",
    "SupervisedContrastiveLoss",
    "TripletMarginLoss",
    "TverskyLoss",
]
