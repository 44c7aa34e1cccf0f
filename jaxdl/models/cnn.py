"""The FMAN45 Assignment 3 starter CNNs exactly as mnist_starter.m / cifar10_starter.m give them,
our improved CIFAR-10 net, and per-layer parameter counts."""

from __future__ import annotations

import math
from typing import Sequence

import jax

from jaxdl import model as model_lib
from jaxdl.layers import conv2d, dense, flatten, initializers, maxpool, relu
from jaxdl.layers.core import Layer


def starter(dataset: str) -> model_lib.Model:
    """mnist_starter.m / cifar10_starter.m: conv5x5x16 pad 2, ReLU, pool, conv5x5x16 pad 2, ReLU,
    [pool on MNIST only], FC 10; weights randn / sqrt(fan/2) with the sheets' quirks (the MNIST
    first layer's sqrt(5*5*3/2) [sic], CIFAR-10's extra 0.1 on the convolutions); biases 0."""
    if dataset == "mnist":
        scale, c_in, pool2 = 1.0, 3, True  # 3, not 1: the sheet's typo, kept
        fc_fan = 7 * 7 * 16
    elif dataset == "cifar10":
        scale, c_in, pool2 = 0.1, 3, False
        fc_fan = 16 * 16 * 16
    else:
        raise ValueError(f"unknown dataset {dataset!r}: expected 'mnist' or 'cifar10'")
    std1 = scale / math.sqrt(5 * 5 * c_in / 2)
    std2 = scale / math.sqrt(5 * 5 * 16 / 2)
    layers = [conv2d(16, 5, pad=2, w_init=initializers.normal(std1)), relu(), maxpool(2),
              conv2d(16, 5, pad=2, w_init=initializers.normal(std2)), relu()]
    if pool2:
        layers.append(maxpool(2))
    return model_lib.sequential(
        layers + [flatten(), dense(10, initializers.normal(1 / math.sqrt(fc_fan / 2)))])


def improved(widths: Sequence[int] = (32, 64, 128), convs_per_block: int = 1
             ) -> model_lib.Model:
    """Our CIFAR-10 net: blocks of [conv3x3 pad 1, ReLU] x convs_per_block then 2x2 max-pool, the
    widths doubling (32-64-128 by default: 32 -> 16 -> 8 -> 4 pixels), then FC 10. He init."""
    layers: list[Layer] = []
    for width in widths:
        for _ in range(convs_per_block):
            layers += [conv2d(width, 3, pad=1), relu()]
        layers.append(maxpool(2))
    return model_lib.sequential(layers + [flatten(), dense(10, initializers.xavier())])


def parameter_counts(model: model_lib.Model, in_shape: tuple[int, ...]) -> list[tuple[str, int]]:
    """[(layer description, number of parameters)] for the layers that have parameters."""
    rows, shape = [], tuple(in_shape)
    for i, layer in enumerate(model.layers):
        params, _, out_shape = layer.init(jax.random.PRNGKey(0), shape)
        if params:
            kind = "conv" if "F" in params else "dense"
            dims = "x".join(str(d) for d in (params.get("F", params.get("W"))).shape)
            rows.append((f"{i + 1}:{kind} {dims}", sum(int(v.size) for v in params.values())))
        shape = out_shape
    return rows
