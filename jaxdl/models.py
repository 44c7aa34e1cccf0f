"""Model builders on top of `model.sequential`: the k-layer MLP of DD2424 A2/A3 (specs 4.1, 5.1).

    [dense -> (batchnorm) -> relu -> (dropout)] x (k-1) -> dense      (softmax CE on top)

Under BN the hidden dense layers have no bias by default: BN subtracts the batch mean, so a bias
before it has no effect on the output and its exact gradient is 0 (the sheet: "superfluous").
"""

from __future__ import annotations

from typing import Sequence

from jaxdl import model as model_lib
from jaxdl.layers import batchnorm, dense, dropout, initializers, relu


def mlp(hidden: Sequence[int], n_classes: int = 10, *, bn: bool = False,
        w_init: initializers.Initializer | None = None, dropout_rate: float = 0.0,
        bn_bias: bool = False, bn_alpha: float = 0.9, bn_eps: float = 1e-8) -> model_lib.Model:
    """k-layer MLP with k - 1 = len(hidden) hidden layers (hidden=[50] is A2's two-layer net).

    w_init: every W's initialiser (default He; A2 uses xavier(), i.e. std 1/sqrt(fan_in); the
    sensitivity study normal(sigma)); biases start at 0, gamma at 1, beta at 0.
    bn_bias: keep the (superfluous) hidden biases before BN, for the gradient check's sake.
    """
    w_init = w_init or initializers.he()
    layers = []
    for m in hidden:
        layers.append(dense(m, w_init, use_bias=bn_bias or not bn))
        if bn:
            layers.append(batchnorm(bn_alpha, bn_eps))
        layers.append(relu())
        if dropout_rate > 0:
            layers.append(dropout(dropout_rate))
    layers.append(dense(n_classes, w_init))
    return model_lib.sequential(layers)


def layer_names(params: list) -> list[str]:
    """Per-parameter names numbered by dense layer, as the sheets write them: W1, b1, gamma1,
    beta1, W2, ... (a BN layer's gamma/beta share the number of the dense layer before it)."""
    names, l = [], 0
    for layer_params in params:
        if "W" in layer_params:
            l += 1
        names += [f"{name}{l}" for name in layer_params]
    return names


def linear(n_classes: int = 10, init_std: float = 0.01) -> model_lib.Model:
    """s = W x + b with W, b ~ N(0, init_std^2) (the Matlab A1 sheets draw b at random too)."""
    init = initializers.normal(init_std)
    return model_lib.sequential([dense(n_classes, init, init)])
