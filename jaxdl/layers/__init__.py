"""Layers with hand-written backward passes (see core.py for the protocol)."""

from jaxdl.layers.core import WEIGHT_KEYS, Layer
from jaxdl.layers.dense import dense
from jaxdl.layers.losses import (Loss, multiple_binary_cross_entropy,
                                 softmax_cross_entropy)
from jaxdl.layers.activations import relu
from jaxdl.layers.batchnorm import batchnorm
from jaxdl.layers.dropout import dropout

__all__ = ["WEIGHT_KEYS", "Layer", "Loss", "dense", "multiple_binary_cross_entropy",
           "softmax_cross_entropy"]
__all__ += ["relu", "batchnorm", "dropout"]
