"""The project's models, each a `sequential` composition of layers (design.md's table)."""

from __future__ import annotations

from jaxdl import model as model_lib
from jaxdl.layers import dense, initializers


def linear(n_classes: int = 10, init_std: float = 0.01) -> model_lib.Model:
    """s = W x + b with W, b ~ N(0, init_std^2) (the Matlab A1 sheets draw b at random too)."""
    init = initializers.normal(init_std)
    return model_lib.sequential([dense(n_classes, init, init)])
