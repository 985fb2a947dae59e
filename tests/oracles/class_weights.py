"""Oracle for `deeplossdive/_class_weights.py` (Cui et al., 2019).

Transcribes the authors' code, richardaecn/class-balanced-loss, `src/cifar_main.py` lines 428-430
at commit 1d7857208a2abc03d84e35a9d5383af8225d4b4d, with Python floats for numpy:

    effective_num = 1.0 - np.power(hparams['beta'], img_num_per_cls)
    weights = (1.0 - hparams['beta']) / np.array(effective_num)
    weights = weights / np.sum(weights) * int(hparams['data_version'])

where `data_version` is the number of classes (10 or 100 for CIFAR-10/100).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor


def class_balanced(samples_per_class: Sequence[float], *, beta: float = 0.999) -> Tensor:
    """w_c = C · (1/E_c) / Σ_k (1/E_k), E_n = (1 - β^n) / (1 - β) (paper, eq. 3 and section 4)."""
    effective_num = [1.0 - beta**n for n in samples_per_class]
    weights = [(1.0 - beta) / e for e in effective_num]
    total = math.fsum(weights)
    return torch.tensor([w / total * len(weights) for w in weights], dtype=torch.float64)
