"""Every loss function of DeepLossDive."""

from deeplossdive.losses.focal import focal_loss, sigmoid_focal_loss

__all__ = ["focal_loss", "sigmoid_focal_loss"]
