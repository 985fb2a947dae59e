"""Every loss module of DeepLossDive: thin `nn.Module` wrappers over `deeplossdive.functional`."""

from deeplossdive._base import Loss
from deeplossdive.losses.angular_margin import ArcFaceLoss, CosFaceLoss
from deeplossdive.losses.asymmetric import AsymmetricLoss
from deeplossdive.losses.binary_cross_entropy import BCELoss, BCEWithLogitsLoss
from deeplossdive.losses.box_iou import (
    CompleteBoxIoULoss,
    DistanceBoxIoULoss,
    GeneralizedBoxIoULoss,
)
from deeplossdive.losses.clip import ClipLoss, SigLipLoss
from deeplossdive.losses.contrastive import ContrastiveLoss
from deeplossdive.losses.cosine_embedding import CosineEmbeddingLoss
from deeplossdive.losses.cross_entropy import CrossEntropyLoss, NLLLoss
from deeplossdive.losses.ctc import CTCLoss
from deeplossdive.losses.dice import DiceLoss, SigmoidDiceLoss
from deeplossdive.losses.distillation import DistillationLoss
from deeplossdive.losses.focal import FocalLoss, SigmoidFocalLoss
from deeplossdive.losses.generalized_dice import GeneralizedDiceLoss, SigmoidGeneralizedDiceLoss
from deeplossdive.losses.hinge import HingeLoss, MulticlassHingeLoss
from deeplossdive.losses.jaccard import JaccardLoss, SigmoidJaccardLoss
from deeplossdive.losses.kl_div import KLDivLoss
from deeplossdive.losses.linear_cross_entropy import LinearCrossEntropyLoss
from deeplossdive.losses.lovasz import LovaszHingeLoss, LovaszSoftmaxLoss
from deeplossdive.losses.margin import (
    HingeEmbeddingLoss,
    MarginRankingLoss,
    MultiLabelMarginLoss,
    MultiLabelSoftMarginLoss,
    SoftMarginLoss,
)
from deeplossdive.losses.nt_xent import NTXentLoss
from deeplossdive.losses.poly1 import Poly1CrossEntropyLoss
from deeplossdive.losses.preference import DPOLoss, SimPOLoss
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
    "ArcFaceLoss",
    "AsymmetricLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CTCLoss",
    "ClipLoss",
    "CompleteBoxIoULoss",
    "ContrastiveLoss",
    "CosFaceLoss",
    "CosineEmbeddingLoss",
    "CrossEntropyLoss",
    "DPOLoss",
    "DiceLoss",
    "DistanceBoxIoULoss",
    "DistillationLoss",
    "FocalLoss",
    "GaussianNLLLoss",
    "GeneralizedBoxIoULoss",
    "GeneralizedDiceLoss",
    "HingeEmbeddingLoss",
    "HingeLoss",
    "HuberLoss",
    "JaccardLoss",
    "KLDivLoss",
    "L1Loss",
    "LinearCrossEntropyLoss",
    "LogCoshLoss",
    "Loss",
    "LovaszHingeLoss",
    "LovaszSoftmaxLoss",
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
    "SigLipLoss",
    "SigmoidDiceLoss",
    "SigmoidFocalLoss",
    "SigmoidGeneralizedDiceLoss",
    "SigmoidJaccardLoss",
    "SigmoidTverskyLoss",
    "SimPOLoss",
    "SmoothL1Loss",
    "SoftMarginLoss",
    "SupervisedContrastiveLoss",
    "TripletMarginLoss",
    "TverskyLoss",
]
