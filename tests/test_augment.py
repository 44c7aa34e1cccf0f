"""Augmentation: the flip equals the sheet's index formula; translations move content and fill 0."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.data import augment, cifar10


def test_flip_indices_match_the_sheets_matlab_formula():
    # Matlab: aa=0:31; bb=32:-1:1; vv=repmat(32*aa,32,1); ind_flip=vv(:)+repmat(bb',32,1) (1-based)
    aa, bb = np.arange(32), np.arange(32, 0, -1)
    vv = np.tile(32 * aa, (32, 1))
    ind_flip = vv.ravel(order="F") + np.tile(bb, 32)
    matlab = np.concatenate([ind_flip, 1024 + ind_flip, 2048 + ind_flip]) - 1
    np.testing.assert_array_equal(augment.flip_indices(), matlab)


def test_flip_mirrors_images():
    X = np.random.default_rng(0).normal(size=(4, 3072)).astype(np.float32)
    flipped = np.asarray(augment.random_flip(jax.random.PRNGKey(0), jnp.asarray(X), p=1.0))
    np.testing.assert_array_equal(cifar10.vectors_to_images(flipped),
                                  cifar10.vectors_to_images(X)[:, :, ::-1, :])
    same = np.asarray(augment.random_flip(jax.random.PRNGKey(0), jnp.asarray(X), p=0.0))
    np.testing.assert_array_equal(same, X)


def test_translation_moves_content_and_fills_zero():
    img = np.zeros((1, 3, 32, 32), np.float32)
    img[0, :, 10, 12] = 1.0
    X = jnp.asarray(img.reshape(1, -1))
    out = np.asarray(augment._shift_image(jnp.asarray(img[0]), jnp.int32(3), jnp.int32(-2)))
    assert out[:, 8, 15].tolist() == [1.0, 1.0, 1.0] and out.sum() == 3.0
    shifted = np.asarray(augment.random_translate(jax.random.PRNGKey(1), jnp.ones((50, 3072))))
    imgs = shifted.reshape(50, 3, 32, 32)
    assert imgs[:, :, 3:29, 3:29].min() == 1.0  # the centre is always covered
    assert (imgs == 0).any()  # some borders were uncovered and filled with 0


def test_augment_runs_under_jit():
    aug = jax.jit(augment.make_augment(flip=True, max_shift=3))
    out = aug(jax.random.PRNGKey(0), jnp.ones((8, 3072)))
    assert out.shape == (8, 3072)
    assert augment.make_augment(flip=False, max_shift=0) is None
