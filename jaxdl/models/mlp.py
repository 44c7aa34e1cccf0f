"""Fully connected models on `model.sequential`: DD2424's linear classifier (A1), the k-layer
MLP of A2/A3, and the A3 bonus variants.

* `linear`: s = W x + b.
* `mlp`: [dense -> (batchnorm) -> relu -> (dropout)] x (k-1) -> dense (softmax CE on top). Under
  BN the hidden dense layers have no bias by default: BN subtracts the batch mean, so a bias
  before it has no effect on the output and its exact gradient is 0 (the A3 sheet: "superfluous").
* `mlp_bn_after_relu`: [dense -> relu -> batchnorm -> (dropout)] x (k-1) -> dense. BN normalises
  the ReLU's output instead of its input, so the hidden dense layers keep their biases.
* `skip_mlp`: the A3 bonus's deep net with skip connections. After an input layer
  x(1) = relu(BN(W_1 x)), each block l = 2, 4, ... computes
      s(l+1) = W_{l+1} relu(W_l x(l-1)) + x(l-1),   x(l+1) = relu(BN(s(l+1))),
  with no BN on the middle layer and every width equal (the identity path needs it). With
  skip=False the same layers without the "+ x(l-1)": the plain net it is compared with.
"""

from __future__ import annotations

from typing import Sequence

from jaxdl import model as model_lib
from jaxdl.layers import batchnorm, dense, dropout, initializers, relu
from jaxdl.layers.residual import branch, fork, merge


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


def linear(n_classes: int = 10, init_std: float = 0.01) -> model_lib.Model:
    """s = W x + b with W, b ~ N(0, init_std^2) (the Matlab A1 sheets draw b at random too)."""
    init = initializers.normal(init_std)
    return model_lib.sequential([dense(n_classes, init, init)])


def mlp_bn_after_relu(hidden: Sequence[int], n_classes: int = 10, *,
                      w_init: initializers.Initializer | None = None, dropout_rate: float = 0.0,
                      bn_alpha: float = 0.9, bn_eps: float = 1e-8) -> model_lib.Model:
    """k-layer MLP with BN after each hidden ReLU (He init by default, biases 0)."""
    w_init = w_init or initializers.he()
    layers = []
    for m in hidden:
        layers += [dense(m, w_init), relu(), batchnorm(bn_alpha, bn_eps)]
        if dropout_rate > 0:
            layers.append(dropout(dropout_rate))
    layers.append(dense(n_classes, w_init))
    return model_lib.sequential(layers)


def skip_mlp(width: int, n_blocks: int, n_classes: int = 10, *, skip: bool = True,
             w_init: initializers.Initializer | None = None, bn_alpha: float = 0.9,
             bn_eps: float = 1e-8) -> model_lib.Model:
    """2 + 2 n_blocks weight layers: input layer, n_blocks two-layer blocks, output layer.

    Dense layers followed by BN have no bias (BN subtracts it); the middle layer of a block has
    none either, as in the sheet's W_l x(l-1).
    """
    w_init = w_init or initializers.he()
    layers = [dense(width, w_init, use_bias=False), batchnorm(bn_alpha, bn_eps), relu()]
    for _ in range(n_blocks):
        path = [dense(width, w_init, use_bias=False), relu(), dense(width, w_init, use_bias=False)]
        layers += [fork(), *map(branch, path), merge()] if skip else path
        layers += [batchnorm(bn_alpha, bn_eps), relu()]
    layers.append(dense(n_classes, w_init))
    return model_lib.sequential(layers)
