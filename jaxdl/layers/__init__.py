"""Layers with hand-written backward passes (see core.py for the protocol)."""

from jaxdl.layers.activations import relu
from jaxdl.layers.batchnorm import batchnorm
from jaxdl.layers.conv2d import conv2d, maxpool
from jaxdl.layers.core import WEIGHT_KEYS, Layer
from jaxdl.layers.dense import dense
from jaxdl.layers.dropout import dropout
from jaxdl.layers.reshape import flatten
from jaxdl.layers.losses import (Loss, multiple_binary_cross_entropy,
                                 softmax_cross_entropy)

__all__ = ["WEIGHT_KEYS", "Layer", "Loss", "batchnorm", "conv2d", "dense", "dropout", "flatten",
           "maxpool", "multiple_binary_cross_entropy", "relu", "softmax_cross_entropy"]
