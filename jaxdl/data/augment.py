"""On-device augmentation: random horizontal flips and translations, for image batches
(n x H x W x C) and for CIFAR-10 row vectors (R, G, B planes, each 32x32 row-major).

One flip and one shift, on images; the vector layout is viewed as images around them. Both run
inside the jitted epoch with PRNG keys, so no batch goes back to the host:
`make_augment(flip=True, max_shift=3)` returns the `(key, X_b) -> X_b` a Trainer takes.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

SIDE, CHANNELS = 32, 3  # the CIFAR-10 row vectors' images

Augment = Callable[[jax.Array, jax.Array], jax.Array]


def flip_images(key: jax.Array, images_nxhxwxc: jax.Array, p: float = 0.5) -> jax.Array:
    """Mirrors each image left-right with probability p."""
    flip = jax.random.bernoulli(key, p, (images_nxhxwxc.shape[0],))
    return jnp.where(flip[:, None, None, None], images_nxhxwxc[:, :, ::-1, :], images_nxhxwxc)


def shift_images(images_nxhxwxc: jax.Array, ty_n: jax.Array, tx_n: jax.Array) -> jax.Array:
    """Moves image i's content down by ty_n[i] and right by tx_n[i] pixels (negative: up, left);
    uncovered pixels become 0, which for standardised data is the training set's mean."""
    _, H, W, _ = images_nxhxwxc.shape

    def shift(img, ty, tx):
        rows = jnp.arange(H)[:, None] - ty  # source row of each output row
        cols = jnp.arange(W)[None, :] - tx
        valid = (rows >= 0) & (rows < H) & (cols >= 0) & (cols < W)
        src = img[jnp.clip(rows, 0, H - 1), jnp.clip(cols, 0, W - 1)]
        return jnp.where(valid[..., None], src, 0.0)
    return jax.vmap(shift)(images_nxhxwxc, ty_n, tx_n)


def translate_images(key: jax.Array, images_nxhxwxc: jax.Array, max_shift: int = 4) -> jax.Array:
    """Shifts each image by up to max_shift pixels each way: a crop at a random offset in
    0..2 max_shift of the image zero-padded by max_shift."""
    offsets = jax.random.randint(key, (images_nxhxwxc.shape[0], 2), 0, 2 * max_shift + 1)
    return shift_images(images_nxhxwxc, max_shift - offsets[:, 0], max_shift - offsets[:, 1])


def _images(X_nxd: jax.Array) -> jax.Array:
    return X_nxd.reshape(-1, CHANNELS, SIDE, SIDE).transpose(0, 2, 3, 1)


def _vectors(images_nxhxwxc: jax.Array) -> jax.Array:
    return images_nxhxwxc.transpose(0, 3, 1, 2).reshape(images_nxhxwxc.shape[0], -1)


def random_flip(key: jax.Array, X_nxd: jax.Array, p: float = 0.5) -> jax.Array:
    """flip_images on row vectors: the DD2424 Assignment 1 bonus flip of a 3072-vector,
    x[r*32 + c] <- x[r*32 + 31 - c] in each colour plane."""
    return _vectors(flip_images(key, _images(X_nxd), p))


def random_translate(key: jax.Array, X_nxd: jax.Array, max_shift: int = 3) -> jax.Array:
    """Shifts each row-vector image by integers tx, ty drawn uniformly from
    [-max_shift, max_shift] (their own draw: (tx, ty) as a 2 x n array); the fill is 0."""
    tx, ty = jax.random.randint(key, (2, X_nxd.shape[0]), -max_shift, max_shift + 1)
    return _vectors(shift_images(_images(X_nxd), ty, tx))


def make_augment(flip: bool = True, max_shift: int = 0, p_flip: float = 0.5, *,
                 images: bool = False) -> Augment | None:
    """The minibatch transform for `train.make_trainer(augment=...)`: a flip then a translation,
    from the two halves of the step's key; None when it does nothing.

    images=False: CIFAR-10 row vectors (random_flip, random_translate); True: n x H x W x C
    batches (flip_images, translate_images).
    """
    if not flip and max_shift == 0:
        return None
    do_flip = flip_images if images else random_flip
    do_shift = translate_images if images else random_translate

    def augment(key, X_b):
        k_flip, k_shift = jax.random.split(key)
        if flip:
            X_b = do_flip(k_flip, X_b, p_flip)
        if max_shift:
            X_b = do_shift(k_shift, X_b, max_shift)
        return X_b
    return augment
