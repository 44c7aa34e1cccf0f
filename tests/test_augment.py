"""Augmentation: the flip equals the sheet's index formula; translations move content and fill 0;
the image and row-vector layouts share one flip and one shift."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.data import augment, cifar10


def test_flip_matches_the_sheets_matlab_formula():
    # Matlab: aa=0:31; bb=32:-1:1; vv=repmat(32*aa,32,1); ind_flip=vv(:)+repmat(bb',32,1) (1-based)
    aa, bb = np.arange(32), np.arange(32, 0, -1)
    vv = np.tile(32 * aa, (32, 1))
    ind_flip = vv.ravel(order="F") + np.tile(bb, 32)
    matlab = np.concatenate([ind_flip, 1024 + ind_flip, 2048 + ind_flip]) - 1
    X = np.arange(2 * 3072, dtype=np.float32).reshape(2, 3072)
    flipped = np.asarray(augment.random_flip(jax.random.PRNGKey(0), jnp.asarray(X), p=1.0))
    np.testing.assert_array_equal(flipped, X[:, matlab])


def test_flip_mirrors_images():
    X = np.random.default_rng(0).normal(size=(4, 3072)).astype(np.float32)
    flipped = np.asarray(augment.random_flip(jax.random.PRNGKey(0), jnp.asarray(X), p=1.0))
    np.testing.assert_array_equal(cifar10.vectors_to_images(flipped),
                                  cifar10.vectors_to_images(X)[:, :, ::-1, :])
    same = np.asarray(augment.random_flip(jax.random.PRNGKey(0), jnp.asarray(X), p=0.0))
    np.testing.assert_array_equal(same, X)


def test_translation_moves_content_and_fills_zero():
    img = np.zeros((1, 32, 32, 3), np.float32)
    img[0, 10, 12, :] = 1.0
    out = np.asarray(augment.shift_images(jnp.asarray(img), jnp.array([-2]), jnp.array([3])))[0]
    assert out[8, 15, :].tolist() == [1.0, 1.0, 1.0] and out.sum() == 3.0
    shifted = np.asarray(augment.random_translate(jax.random.PRNGKey(1), jnp.ones((50, 3072))))
    imgs = shifted.reshape(50, 3, 32, 32)
    assert imgs[:, :, 3:29, 3:29].min() == 1.0  # the centre is always covered
    assert (imgs == 0).any()  # some borders were uncovered and filled with 0


def test_augment_runs_under_jit():
    aug = jax.jit(augment.make_augment(flip=True, max_shift=3))
    out = aug(jax.random.PRNGKey(0), jnp.ones((8, 3072)))
    assert out.shape == (8, 3072)
    assert augment.make_augment(flip=False, max_shift=0) is None
    aug = jax.jit(augment.make_augment(flip=True, max_shift=4, images=True))
    assert aug(jax.random.PRNGKey(0), jnp.ones((8, 28, 28, 1))).shape == (8, 28, 28, 1)


def test_vector_layout_is_the_image_flip_seen_as_rows():
    X = np.random.default_rng(1).normal(size=(16, 3072)).astype(np.float32)
    key = jax.random.PRNGKey(3)
    rows = np.asarray(augment.random_flip(key, jnp.asarray(X)))
    images = np.asarray(augment.flip_images(key, jnp.asarray(cifar10.vectors_to_images(X))))
    np.testing.assert_array_equal(rows, cifar10.images_to_vectors(images))
    assert 0 < np.sum(np.any(rows != X, axis=1)) < 16  # some flipped, some not


def test_image_translation_is_a_crop_of_the_zero_padded_image():
    images = np.random.default_rng(2).normal(size=(6, 8, 10, 2)).astype(np.float32)
    key, s = jax.random.PRNGKey(4), 3
    out = np.asarray(augment.translate_images(key, jnp.asarray(images), s))
    offsets = np.asarray(jax.random.randint(key, (6, 2), 0, 2 * s + 1))
    padded = np.pad(images, ((0, 0), (s, s), (s, s), (0, 0)))
    for i, (oy, ox) in enumerate(offsets):
        np.testing.assert_array_equal(out[i], padded[i, oy:oy + 8, ox:ox + 10])
