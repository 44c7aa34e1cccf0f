"""On-device augmentation of CIFAR-10 row vectors (R, G, B planes, each 32x32 row-major).

Both transforms run inside the jitted epoch with PRNG keys, so no batch goes back to the host:
`make_augment(flip=True, max_shift=3)` returns the `(key, X_b) -> X_b` a Trainer takes.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

SIDE, CHANNELS = 32, 3


def flip_indices() -> np.ndarray:
    """The sheet's horizontal-flip permutation of a 3072-vector (0-based):
    flip[r*32 + c] = r*32 + 31 - c, repeated for the G and B planes (offsets 1024 and 2048)."""
    r, c = np.meshgrid(np.arange(SIDE), np.arange(SIDE), indexing="ij")
    plane = (r * SIDE + SIDE - 1 - c).ravel()
    return np.concatenate([plane + k * SIDE * SIDE for k in range(CHANNELS)])


def random_flip(key: jax.Array, X_nxd: jax.Array, p: float = 0.5) -> jax.Array:
    """Mirrors each image left-right with probability p."""
    flip = jax.random.bernoulli(key, p, (X_nxd.shape[0], 1))
    return jnp.where(flip, X_nxd[:, flip_indices()], X_nxd)


def _shift_image(img_cxhxw: jax.Array, tx: jax.Array, ty: jax.Array) -> jax.Array:
    """Moves the content right by tx and down by ty pixels; uncovered pixels become 0."""
    rows = jnp.arange(SIDE)[:, None] - ty  # source row of each output row
    cols = jnp.arange(SIDE)[None, :] - tx
    valid = (rows >= 0) & (rows < SIDE) & (cols >= 0) & (cols < SIDE)
    src = img_cxhxw[:, jnp.clip(rows, 0, SIDE - 1), jnp.clip(cols, 0, SIDE - 1)]
    return jnp.where(valid[None], src, 0.0)


def random_translate(key: jax.Array, X_nxd: jax.Array, max_shift: int = 3) -> jax.Array:
    """Shifts each image by integers tx, ty drawn uniformly from [-max_shift, max_shift].

    The fill is 0, which for standardised data is the training set's mean pixel.
    """
    n = X_nxd.shape[0]
    tx, ty = jax.random.randint(key, (2, n), -max_shift, max_shift + 1)
    imgs = X_nxd.reshape(n, CHANNELS, SIDE, SIDE)
    return jax.vmap(_shift_image)(imgs, tx, ty).reshape(n, -1)


def make_augment(flip: bool = True, max_shift: int = 0, p_flip: float = 0.5
                 ) -> Callable[[jax.Array, jax.Array], jax.Array] | None:
    """The minibatch transform for `train.make_trainer(augment=...)`; None when it does nothing."""
    if not flip and max_shift == 0:
        return None

    def augment(key, X_b):
        k_flip, k_shift = jax.random.split(key)
        if flip:
            X_b = random_flip(k_flip, X_b, p_flip)
        if max_shift:
            X_b = random_translate(k_shift, X_b, max_shift)
        return X_b
    return augment
