"""Every loss module of DeepLossDive: thin `nn.Module` wrappers over `deeplossdive.functional`."""

from deeplossdive._base import Loss
from deeplossdive.losses.focal import FocalLoss, SigmoidFocalLoss

__all__ = ["FocalLoss", "Loss", "SigmoidFocalLoss"]
