"""More MLP builders for the A3 bonus (specs 5.4), on `model.sequential` and the existing layers.

* `mlp_bn_after_relu`: [dense -> relu -> batchnorm -> (dropout)] x (k-1) -> dense. BN normalises
  the ReLU's output instead of its input, so the hidden dense layers keep their biases (nothing
  subtracts them any more).
* `skip_mlp`: the sheet's deep net with skip connections. After an input layer
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
