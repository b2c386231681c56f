"""Data sets, splits, noise, normalization and augmentation."""

import numpy as np
import pytest

from server.engine.config import ConfigError, RunConfig, parse_config
from server.engine.data import Dataset, bayes_error_floor, data_shape, load_digits, make_data, prepare_data

DATASETS_2D = ["circles", "moons", "xor", "spiral", "gaussian"]


def config_with(seed=0, **data):
    return parse_config({"seed": seed, "data": data})


def prepare(seed=0, **data):
    config = config_with(seed, **data)
    return prepare_data(config, np.random.default_rng(config.seed))


def raw(seed=0, **data):
    """The splits without normalization: the points as generated."""
    return prepare(seed, normalize={"center": False, "scale": False}, **data)


def all_points(dataset):
    return (np.vstack((dataset.X_train, dataset.X_dev, dataset.X_test)),
            np.concatenate((dataset.y_train, dataset.y_dev, dataset.y_test)))


def sorted_rows(X):
    return X[np.lexsort(X.T[::-1])]


# --- splits --------------------------------------------------------------------------------------

@pytest.mark.parametrize("dataset", DATASETS_2D + ["digits"])
def test_split_sizes_shapes_and_types(dataset):
    data = prepare(dataset=dataset, n_samples=503, split={"train": 0.5, "dev": 0.3, "test": 0.2})
    # dev and test are rounded down, train takes the rest
    assert data.summary() == {"n_train": 253, "n_dev": 150, "n_test": 100, "n_train_dev": 0,
                              "n_features": 2 if dataset != "digits" else 64,
                              "n_classes": 2 if dataset != "digits" else 10}
    for X, y in ((data.X_train, data.y_train), (data.X_dev, data.y_dev), (data.X_test, data.y_test)):
        assert X.dtype == np.float64 and y.dtype == np.int64
        assert X.shape == (y.shape[0], data.n_features)
        assert np.isfinite(X).all()
        assert set(np.unique(y)) <= set(range(data.n_classes))
    assert all(type(value) is int for value in data.summary().values())


@pytest.mark.parametrize("dataset", DATASETS_2D + ["digits"])
def test_the_smallest_and_noisiest_settings_still_give_finite_non_empty_splits(dataset):
    data = prepare(dataset=dataset, n_samples=20, noise=2.0, dev_noise=2.0, label_noise=0.5,
                   split={"train": 0.9, "dev": 0.05, "test": 0.05}, augment={"enabled": True})
    assert data.summary()["n_train"] == 18 and data.summary()["n_dev"] == data.summary()["n_test"] == 1
    for X in (data.X_train, data.X_dev, data.X_test, data.augment(data.X_train, np.random.default_rng(0))):
        assert np.isfinite(X).all()
    assert (data.std > 0).all()
    if data.is_2d:
        assert np.isfinite(data.grid()[2]).all()
        assert 0.0 <= data.bayes_error("dev") <= 0.5


def test_splits_are_disjoint_and_together_are_the_whole_data_set():
    data = raw(dataset="circles", n_samples=200, noise=0.0)
    X, y = all_points(data)
    assert np.unique(X, axis=0).shape[0] == 200
    radii = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(np.where(y == 0, radii, 0.0), np.where(y == 0, 1.0, 0.0), atol=1e-12)
    np.testing.assert_allclose(np.where(y == 1, radii, 0.0), np.where(y == 1, 0.8, 0.0), atol=1e-12)
    assert np.bincount(y).tolist() == [100, 100]


@pytest.mark.parametrize("split", [{"train_dev": 0.0},
                                   {"train": 0.5, "train_dev": 0.1, "dev": 0.2, "test": 0.2}])
@pytest.mark.parametrize("features", [["x1", "x2"], ["x1", "x2", "x1_x2", "sin_x1"]])
def test_the_monitored_rows_are_train_train_dev_and_dev_without_a_copy(split, features):
    data = prepare(dataset="moons", n_samples=300, split=split, features=features)
    spans = data.monitored_spans
    for name, (X, y) in {"train": (data.X_train, data.y_train), "dev": (data.X_dev, data.y_dev),
                         "train_dev": (data.X_train_dev, data.y_train_dev)}.items():
        start, stop = spans[name]
        np.testing.assert_array_equal(data.X_monitored[start:stop], X)
        np.testing.assert_array_equal(data.y_monitored[start:stop], y)
    assert spans["dev"][1] == len(data.y_monitored)  # no test row is evaluated while training
    assert np.shares_memory(data.X_monitored, data.X_train) and np.shares_memory(data.X_monitored, data.X_dev)


def test_digits_splits_are_disjoint_images_of_the_shipped_file():
    data = raw(dataset="digits", n_samples=600)
    X, y = all_points(data)
    pixels, labels = load_digits()
    # Each chosen image is one row of the file with its own label; no row is used twice.
    matches = [np.flatnonzero((pixels == row).all(axis=1)) for row in X]
    assert all(labels[match].tolist().count(label) >= 1 for match, label in zip(matches, y, strict=True))
    assert X.shape == (600, 64)
    distinct_images = np.unique(X, axis=0).shape[0]
    distinct_in_file = np.unique(pixels[np.concatenate(matches)], axis=0).shape[0]
    assert distinct_images == distinct_in_file


def test_digits_file_has_1797_images_of_64_pixels_and_10_classes():
    pixels, labels = load_digits()
    assert pixels.shape == (1797, 64) and labels.shape == (1797,)
    assert pixels.min() == 0 and pixels.max() == 16
    assert np.array_equal(pixels, np.round(pixels))
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert not pixels.flags.writeable


def test_all_1797_digits_can_be_used():
    data = raw(dataset="digits", n_samples=1797)
    X, _ = all_points(data)
    assert X.shape == (1797, 64)
    assert data.image_shape == (8, 8) and not data.is_2d


def test_digits_beyond_the_file_is_a_config_error():
    with pytest.raises(ConfigError) as error:
        config_with(dataset="digits", n_samples=1800)
    assert error.value.details[0]["loc"] == "data.n_samples"
    unchecked = RunConfig.model_validate({"data": {"dataset": "digits", "n_samples": 1800}})
    with pytest.raises(ConfigError, match="digits has 1797 samples"):
        prepare_data(unchecked, np.random.default_rng(0))


# --- geometry of the generators -------------------------------------------------------------------

# The circles and moons against scikit-learn's make_circles and make_moons: test_reference.py.


def test_moons_geometry_without_noise():
    X, y = all_points(raw(dataset="moons", n_samples=300, noise=0.0))
    upper, lower = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)
    assert (upper[:, 1] >= -1e-12).all()
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0)
    assert (lower[:, 1] <= 0.5 + 1e-12).all()


def test_xor_labels_are_the_sign_of_the_product_before_noise():
    X, y = all_points(raw(dataset="xor", n_samples=400, noise=0.0))
    assert (np.abs(X) <= 1.0).all()
    np.testing.assert_array_equal(y, (X[:, 0] * X[:, 1] > 0).astype(int))
    assert 0.4 < y.mean() < 0.6


def test_spiral_arms_are_point_reflections_of_each_other():
    X, y = all_points(raw(dataset="spiral", n_samples=200, noise=0.0))
    np.testing.assert_allclose(sorted_rows(X[y == 1]), sorted_rows(-X[y == 0]), atol=1e-12)
    assert np.hypot(X[:, 0], X[:, 1]).max() == pytest.approx(1.0)


def test_gaussian_blobs_sit_around_minus_one_and_plus_one():
    X, y = all_points(raw(dataset="gaussian", n_samples=2000, noise=0.0))
    np.testing.assert_allclose(X[y == 0].mean(axis=0), [-1.0, -1.0], atol=0.06)
    np.testing.assert_allclose(X[y == 1].mean(axis=0), [1.0, 1.0], atol=0.06)
    np.testing.assert_allclose(X[y == 1].std(axis=0), [0.5, 0.5], atol=0.04)


@pytest.mark.parametrize("dataset", DATASETS_2D)
def test_noise_is_gaussian_with_the_given_standard_deviation(dataset):
    clean, _ = all_points(raw(dataset=dataset, n_samples=4000, noise=0.0))
    noisy, _ = all_points(raw(dataset=dataset, n_samples=4000, noise=0.3))
    offsets = noisy - clean
    assert offsets.std() == pytest.approx(0.3, rel=0.05)
    assert abs(offsets.mean()) < 0.02


# --- noise on dev and test, label noise ---------------------------------------------------------

@pytest.mark.parametrize("dataset", ["moons", "digits"])
def test_dev_noise_changes_dev_and_test_only(dataset):
    base = prepare(dataset=dataset, n_samples=400, noise=0.1)
    mismatched = prepare(dataset=dataset, n_samples=400, noise=0.1, dev_noise=0.6)
    np.testing.assert_array_equal(base.X_train, mismatched.X_train)
    np.testing.assert_array_equal(base.y_train, mismatched.y_train)
    np.testing.assert_array_equal(base.mean, mismatched.mean)
    np.testing.assert_array_equal(base.y_dev, mismatched.y_dev)
    assert not np.allclose(base.X_dev, mismatched.X_dev)
    assert not np.allclose(base.X_test, mismatched.X_test)


def test_dev_noise_equal_to_noise_changes_nothing():
    base = prepare(dataset="spiral", noise=0.2)
    same = prepare(dataset="spiral", noise=0.2, dev_noise=0.2)
    np.testing.assert_array_equal(base.X_dev, same.X_dev)


def test_dev_noise_widens_dev_and_test_around_the_same_clean_points():
    clean = raw(dataset="circles", n_samples=3000, noise=0.0)
    mismatched = raw(dataset="circles", n_samples=3000, noise=0.05, dev_noise=0.5)
    assert (mismatched.X_train - clean.X_train).std() == pytest.approx(0.05, rel=0.1)
    assert (mismatched.X_dev - clean.X_dev).std() == pytest.approx(0.5, rel=0.1)
    assert (mismatched.X_test - clean.X_test).std() == pytest.approx(0.5, rel=0.1)


def test_digits_dev_noise_is_clipped_pixel_noise():
    data = raw(dataset="digits", n_samples=500, dev_noise=0.25)
    assert data.X_dev.min() >= 0 and data.X_dev.max() <= 16
    assert not np.array_equal(data.X_dev, np.round(data.X_dev))
    np.testing.assert_array_equal(data.X_train, np.round(data.X_train))


@pytest.mark.parametrize("label_noise", [0.1, 0.25, 0.5])
def test_label_noise_flips_exactly_that_fraction_of_every_split(label_noise):
    clean = raw(dataset="circles", n_samples=500, noise=0.0)
    noisy = raw(dataset="circles", n_samples=500, noise=0.0, label_noise=label_noise)
    for split in ("train", "dev", "test"):
        X_clean, y_clean = getattr(clean, f"X_{split}"), getattr(clean, f"y_{split}")
        X_noisy, y_noisy = getattr(noisy, f"X_{split}"), getattr(noisy, f"y_{split}")
        np.testing.assert_array_equal(X_clean, X_noisy)
        flipped = int((y_clean != y_noisy).sum())
        assert flipped == int(np.floor(label_noise * y_clean.shape[0] + 0.5)), split
        true_labels = (np.hypot(X_noisy[:, 0], X_noisy[:, 1]) < 0.9).astype(int)
        assert (true_labels != y_noisy).sum() == flipped


def test_digits_label_noise_replaces_labels_by_a_different_class():
    clean = raw(dataset="digits", n_samples=1000)
    noisy = raw(dataset="digits", n_samples=1000, label_noise=0.3)
    np.testing.assert_array_equal(clean.X_train, noisy.X_train)
    changed = clean.y_train != noisy.y_train
    assert changed.sum() == round(0.3 * clean.y_train.shape[0])
    replacements = noisy.y_train[changed]
    assert len(np.unique(replacements)) == 10


def test_noise_settings_do_not_shift_the_other_random_choices():
    # The same generator state after the data, whatever the noise: the run's other draws agree.
    after = []
    for settings in ({"noise": 0.0}, {"noise": 0.4, "dev_noise": 1.0, "label_noise": 0.2}):
        config = config_with(dataset="moons", n_samples=300, **settings)
        rng = np.random.default_rng(5)
        prepare_data(config, rng)
        after.append(rng.random(3))
    np.testing.assert_array_equal(after[0], after[1])


# --- normalization -------------------------------------------------------------------------------

@pytest.mark.parametrize("dataset", DATASETS_2D)
def test_train_split_is_standardized(dataset):
    data = prepare(dataset=dataset, n_samples=600)
    np.testing.assert_allclose(data.X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(data.X_train.std(axis=0), 1.0, atol=1e-12)


def test_normalization_uses_the_training_statistics_only():
    unnormalized = raw(dataset="moons", n_samples=600, dev_noise=0.8)
    data = prepare(dataset="moons", n_samples=600, dev_noise=0.8)
    mean, std = unnormalized.X_train.mean(axis=0), unnormalized.X_train.std(axis=0)
    np.testing.assert_allclose(data.mean, mean)
    np.testing.assert_allclose(data.std, std)
    np.testing.assert_allclose(data.X_dev, (unnormalized.X_dev - mean) / std)
    np.testing.assert_allclose(data.X_test, (unnormalized.X_test - mean) / std)
    # dev and test were not standardized on their own statistics
    assert np.abs(data.X_dev.std(axis=0) - 1.0).max() > 0.1
    np.testing.assert_allclose(data.normalize(unnormalized.X_dev), data.X_dev)
    np.testing.assert_allclose(data.denormalize(data.X_dev), unnormalized.X_dev)


def test_digits_dev_mean_is_not_zero_when_its_noise_differs():
    data = prepare(dataset="digits", n_samples=1000, dev_noise=0.3)
    assert np.abs(data.X_train.mean(axis=0)).max() < 1e-12
    assert np.abs(data.X_dev.mean(axis=0)).max() > 0.3


@pytest.mark.parametrize("center, scale", [(True, False), (False, True), (False, False)])
def test_center_and_scale_can_be_switched_off(center, scale):
    unnormalized = raw(dataset="gaussian")
    data = prepare(dataset="gaussian", normalize={"center": center, "scale": scale})
    expected_mean = unnormalized.X_train.mean(axis=0) if center else np.zeros(2)
    expected_std = unnormalized.X_train.std(axis=0) if scale else np.ones(2)
    np.testing.assert_allclose(data.mean, expected_mean)
    np.testing.assert_allclose(data.std, expected_std)
    np.testing.assert_allclose(data.X_train, (unnormalized.X_train - expected_mean) / expected_std)


def test_constant_digit_pixels_are_left_unscaled_not_divided_by_zero():
    data = prepare(dataset="digits", n_samples=400)
    unnormalized = raw(dataset="digits", n_samples=400)
    constant = unnormalized.X_train.std(axis=0) == 0
    assert constant.any()
    assert (data.std[constant] == 1.0).all()
    assert np.isfinite(data.X_dev).all() and np.isfinite(data.X_test).all()
    np.testing.assert_array_equal(data.pixels(data.X_train), unnormalized.X_train.astype(int))


# --- augmentation --------------------------------------------------------------------------------

def test_augmentation_disabled_is_an_identity_copy_without_random_draws():
    data = prepare(dataset="moons")
    rng = np.random.default_rng(1)
    state = rng.bit_generator.state
    copy = data.augment(data.X_train[:32], rng)
    np.testing.assert_array_equal(copy, data.X_train[:32])
    assert not np.shares_memory(copy, data.X_train)
    assert rng.bit_generator.state == state


@pytest.mark.parametrize("dataset", ["circles", "digits"])
def test_augmentation_changes_training_batches_and_keeps_their_shape(dataset):
    data = prepare(dataset=dataset, n_samples=400, augment={"enabled": True})
    batch = data.X_train[:64]
    before = batch.copy()
    augmented = data.augment(batch, np.random.default_rng(2))
    assert augmented.shape == batch.shape and augmented.dtype == np.float64
    assert np.isfinite(augmented).all()
    assert not np.allclose(augmented, batch)
    np.testing.assert_array_equal(batch, before)
    again = data.augment(batch, np.random.default_rng(2))
    np.testing.assert_array_equal(augmented, again)


def test_2d_augmentation_rotates_about_the_training_centroid_within_the_limit():
    data = prepare(dataset="moons", augment={"enabled": True, "rotation_degrees": 20.0, "jitter": 0.0})
    batch = data.X_train
    before, after = data.denormalize(batch) - data.raw_center, data.denormalize(
        data.augment(batch, np.random.default_rng(3))) - data.raw_center
    np.testing.assert_allclose(np.hypot(*after.T), np.hypot(*before.T), atol=1e-12)
    turned = np.degrees(np.arctan2(after[:, 1], after[:, 0]) - np.arctan2(before[:, 1], before[:, 0]))
    turned = (turned + 180.0) % 360.0 - 180.0
    assert np.abs(turned).max() <= 20.0 + 1e-9
    assert np.abs(turned).max() > 15.0


def test_2d_jitter_alone_adds_gaussian_noise_of_that_size():
    data = raw(dataset="circles", n_samples=3000,
               augment={"enabled": True, "rotation_degrees": 0.0, "jitter": 0.1})
    offsets = data.augment(data.X_train, np.random.default_rng(4)) - data.X_train
    assert offsets.std() == pytest.approx(0.1, rel=0.05)


@pytest.mark.parametrize("reach", [1, 2])
def test_digit_shifts_move_whole_images_by_at_most_shift_pixels_with_zero_fill(reach):
    data = prepare(dataset="digits", n_samples=300, augment={"enabled": True, "shift_pixels": reach})
    originals = data.pixels(data.X_train[:60]).reshape(-1, 8, 8)
    shifted = data.pixels(data.augment(data.X_train[:60], np.random.default_rng(5))).reshape(-1, 8, 8)
    seen_shifts = set()
    for original, result in zip(originals, shifted, strict=True):
        padded = np.pad(original, reach)
        candidates = {
            (dy, dx)
            for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1)
            if np.array_equal(padded[reach - dy:reach - dy + 8, reach - dx:reach - dx + 8], result)
        }
        assert candidates, "an augmented digit is not a shift of its original"
        seen_shifts |= candidates
    assert len(seen_shifts) > (2 * reach + 1) ** 2 // 2


# --- points and grid -----------------------------------------------------------------------------

def test_points_are_train_dev_and_test_in_network_coordinates():
    data = prepare(dataset="xor", n_samples=100)
    points = data.points()
    assert set(points) == {"train", "dev", "test"}
    assert len(points["test"]["x"]) == data.y_test.shape[0]
    assert len(points["train"]["x"]) == len(points["train"]["label"]) == data.y_train.shape[0]
    assert len(points["dev"]["y"]) == data.y_dev.shape[0]
    assert points["train"]["x"][0] == round(float(data.X_train[0, 0]), 4)
    assert all(type(label) is int for label in points["dev"]["label"])
    assert prepare(dataset="digits", n_samples=100).points() is None


def test_grid_is_row_major_and_covers_the_points_with_a_margin():
    data = prepare(dataset="spiral")
    xs, ys, G = data.grid(resolution=30, margin=0.5)
    assert xs.shape == (30,) and ys.shape == (30,) and G.shape == (900, 2)
    cells = G.reshape(30, 30, 2)
    assert cells[4, 7].tolist() == [xs[7], ys[4]]
    shown = np.vstack((data.X_train, data.X_dev))
    np.testing.assert_allclose([xs[0], ys[0]], shown.min(axis=0) - 0.5)
    np.testing.assert_allclose([xs[-1], ys[-1]], shown.max(axis=0) + 0.5)
    assert data.grid(resolution=30, margin=0.5)[2] is G
    assert data.grid()[2].shape == (1600, 2)


def test_grid_needs_2d_data_and_two_points_per_axis():
    with pytest.raises(ValueError, match="not 2-D"):
        prepare(dataset="digits", n_samples=100).grid()
    with pytest.raises(ValueError, match="at least 2"):
        prepare(dataset="circles").grid(resolution=1)


# --- determinism and the contract entry point ----------------------------------------------------

@pytest.mark.parametrize("dataset", DATASETS_2D + ["digits"])
def test_same_seed_same_arrays_and_another_seed_other_arrays(dataset):
    settings = {"dataset": dataset, "n_samples": 200, "label_noise": 0.1}
    first, second = prepare(seed=7, **settings), prepare(seed=7, **settings)
    other = prepare(seed=8, **settings)
    for name in ("X_train", "y_train", "X_dev", "y_dev", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    assert not np.array_equal(first.X_train, other.X_train)


def test_make_data_returns_what_training_sees():
    config = {"seed": 3, "data": {"dataset": "moons", "n_samples": 120, "label_noise": 0.1}}
    splits = make_data(config)
    expected = prepare_data(parse_config(config), np.random.default_rng(3))
    assert set(splits) == {"train", "dev", "test"}
    for name in ("train", "dev", "test"):
        X, y = splits[name]
        np.testing.assert_array_equal(X, getattr(expected, f"X_{name}"))
        np.testing.assert_array_equal(y, getattr(expected, f"y_{name}"))
    assert make_data(RunConfig())["train"][0].shape == (360, 2)


@pytest.mark.parametrize("dataset", ["spiral", "digits"])
def test_make_data_matches_the_data_of_a_training_run(dataset):
    from server.engine import Trainer

    config = {"seed": 11, "data": {"dataset": dataset, "n_samples": 150, "dev_noise": 0.3,
                                   "label_noise": 0.1}}
    trainer = Trainer(config)
    splits = make_data(config)
    for name in ("train", "dev", "test"):
        np.testing.assert_array_equal(splits[name][0], getattr(trainer.dataset, f"X_{name}"))
        np.testing.assert_array_equal(splits[name][1], getattr(trainer.dataset, f"y_{name}"))


def test_make_data_rejects_a_bad_config_naming_the_field():
    with pytest.raises(ConfigError) as error:
        make_data({"data": {"dataset": "swirl"}})
    assert error.value.details[0]["loc"] == "data.dataset"


def test_dataset_is_the_documented_dataclass():
    data = prepare()
    assert isinstance(data, Dataset)
    assert data.is_2d and data.image_shape is None and data.n_classes == 2
    assert data.mean.shape == data.std.shape == (2,)


# --- the Bayes error floor -----------------------------------------------------------------------

def _normal_cdf(z):
    from math import erfc, sqrt
    return 0.5 * erfc(-z / sqrt(2.0))


# The estimates are cached per (data set, noise), so the tests below share a few noise levels.
@pytest.mark.parametrize("noise", [0.1, 0.3])
def test_circles_floor_matches_the_rice_distribution_integral(noise):
    # A point of a circle of radius R plus isotropic noise has a Rician radius; the Bayes
    # error of two equally likely circles is half the overlap of the two radius densities.
    r = np.linspace(1e-6, 1.0 + 8 * noise, 40001)

    def radius_density(radius):
        return r / noise**2 * np.exp(-(r**2 + radius**2) / (2 * noise**2)) * np.i0(r * radius / noise**2)

    overlap = np.minimum(radius_density(1.0), radius_density(0.8))
    expected = 0.5 * float(np.sum(overlap) * (r[1] - r[0]))
    assert bayes_error_floor("circles", noise) == pytest.approx(expected, abs=0.006)


def test_default_circles_are_noisy_enough_that_a_sixth_of_the_points_cannot_be_classified():
    assert 0.15 < bayes_error_floor("circles", 0.1) < 0.17


def test_xor_floor_is_the_chance_of_crossing_exactly_one_axis():
    rng = np.random.default_rng(0)
    clean = rng.uniform(-1, 1, size=(400_000, 2))
    noisy = clean + 0.2 * rng.standard_normal(clean.shape)
    simulated = np.mean((clean[:, 0] * clean[:, 1] > 0) != (noisy[:, 0] * noisy[:, 1] > 0))
    assert bayes_error_floor("xor", 0.2) == pytest.approx(simulated, abs=0.003)


def test_gaussian_floor_is_the_tail_beyond_the_midline():
    spread = np.hypot(0.5, 0.3)
    assert bayes_error_floor("gaussian", 0.3) == pytest.approx(_normal_cdf(-np.sqrt(2) / spread), rel=1e-12)
    assert bayes_error_floor("gaussian", 0.0) == pytest.approx(_normal_cdf(-np.sqrt(2) / 0.5), rel=1e-12)


@pytest.mark.parametrize("dataset", ["circles", "moons", "xor", "spiral"])
def test_floor_is_zero_without_noise_and_grows_with_it(dataset):
    floors = [bayes_error_floor(dataset, noise) for noise in (0.0, 0.1, 0.3, 1.0)]
    assert floors[0] == 0.0
    assert all(low <= high + 1e-3 for low, high in zip(floors, floors[1:], strict=False))
    assert floors[-1] <= 0.5 and floors[-1] > 0.2


def test_label_noise_adds_to_the_floor_as_flips_of_the_bayes_prediction():
    clean = bayes_error_floor("moons", 0.3)
    assert bayes_error_floor("moons", 0.3, 0.2) == pytest.approx(clean + 0.2 * (1 - 2 * clean))
    assert bayes_error_floor("moons", 0.0, 0.1) == pytest.approx(0.1)
    assert bayes_error_floor("circles", 1.0, 0.5) == pytest.approx(0.5)


def test_dataset_reports_the_floor_of_each_split():
    data = prepare(dataset="circles", noise=0.1, dev_noise=0.3, label_noise=0.1)
    assert data.bayes_error() == bayes_error_floor("circles", 0.1, 0.1)
    assert data.bayes_error("dev") == data.bayes_error("test") == bayes_error_floor("circles", 0.3, 0.1)
    assert data.bayes_error("dev") > data.bayes_error("train")
    assert prepare(dataset="digits", n_samples=100, label_noise=0.15).bayes_error("dev") == 0.15
    with pytest.raises(ValueError, match="split must be train, dev, test or train_dev"):
        data.bayes_error("validation")
    with pytest.raises(ValueError, match="2-D data sets only"):
        bayes_error_floor("digits", 0.1)


def test_a_trained_network_does_not_beat_the_floor_on_a_large_sample():
    # The estimate is a floor: the Bayes classifier itself, the true-radius rule r < 0.9,
    # errs about that often on fresh data.
    data = raw(dataset="circles", n_samples=5000, noise=0.1)
    X, y = all_points(data)
    rule_error = np.mean((np.hypot(X[:, 0], X[:, 1]) < 0.9) != (y == 1))
    assert rule_error == pytest.approx(bayes_error_floor("circles", 0.1), abs=0.015)


# --- the train-dev set ---------------------------------------------------------------------------

# Values of the first wave's data, before the train-dev set existed: a config without
# one must keep giving exactly these arrays.
GOLDEN = [
    ({}, {
        "train": ((360, 2), [1.290828115266, -0.514549411303], [1, 0, 1, 0, 0, 0, 1, 1, 0, 0, 1, 0], 186),
        "dev": ((120, 2), [-1.515928142525, -0.265334910704], [0, 1, 1, 1, 0, 0, 1, 0, 0, 0, 1, 1], 56),
        "test": ((120, 2), [1.618257401693, -0.712598669137], [0, 1, 1, 1, 0, 0, 1, 0, 0, 1, 0, 0], 58)}),
    ({"seed": 7, "data": {"dataset": "digits", "n_samples": 300, "dev_noise": 0.2, "label_noise": 0.1}}, {
        "train": ((180, 64), [0.0, -0.301967949601, 0.709621171338],
                  [2, 0, 7, 0, 2, 2, 2, 9, 5, 9, 0, 5], 782),
        "dev": ((60, 64), [3.962685633863, -0.301967949601, -1.055239772922],
                [7, 7, 2, 7, 1, 4, 8, 9, 7, 4, 7, 4], 284),
        "test": ((60, 64), [2.605266594632, -0.301967949601, -1.055239772922],
                 [7, 7, 6, 5, 4, 1, 4, 9, 2, 1, 2, 7], 281)}),
    ({"seed": 3, "data": {"dataset": "xor", "noise": 0.3, "dev_noise": 0.5, "label_noise": 0.05}}, {
        "train": ((360, 2), [0.613104022491, -0.670095264916], [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0], 175),
        "dev": ((120, 2), [0.822686250334, -0.960559895216], [0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 1, 0], 46),
        "test": ((120, 2), [0.410960915742, 0.346711904824], [1, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0], 58)}),
]


@pytest.mark.parametrize(("config", "expected"), GOLDEN)
@pytest.mark.parametrize("explicit_zero", [False, True])
def test_without_a_train_dev_set_the_data_is_what_it_always_was(config, expected, explicit_zero):
    if explicit_zero:
        data = dict(config.get("data", {}), split={"train": 0.6, "dev": 0.2, "test": 0.2, "train_dev": 0.0})
        config = {**config, "data": data}
    splits = make_data(config)
    assert set(splits) == {"train", "dev", "test"}
    for name, (shape, first_row, first_labels, label_sum) in expected.items():
        X, y = splits[name]
        assert X.shape == shape
        np.testing.assert_allclose(X[0][:3], first_row, rtol=0, atol=1e-11)
        assert y[:12].tolist() == first_labels and int(y.sum()) == label_sum


TRAIN_DEV_SPLIT = {"train": 0.5, "dev": 0.2, "test": 0.1, "train_dev": 0.2}


@pytest.mark.parametrize("dataset", DATASETS_2D + ["digits"])
def test_the_train_dev_set_is_a_fourth_disjoint_split(dataset):
    data = prepare(dataset=dataset, n_samples=503, split=TRAIN_DEV_SPLIT)
    assert data.has_train_dev
    # dev, test and train-dev rounded down, train takes the rest
    assert data.summary() == {"n_train": 253, "n_dev": 100, "n_test": 50, "n_train_dev": 100,
                              "n_features": 2 if dataset != "digits" else 64,
                              "n_classes": 2 if dataset != "digits" else 10}
    assert data.X_train_dev.shape == (100, data.n_features) and data.y_train_dev.dtype == np.int64
    raw_data = raw(dataset=dataset, n_samples=503, split=TRAIN_DEV_SPLIT)
    rows = np.vstack((raw_data.X_train, raw_data.X_train_dev, raw_data.X_dev, raw_data.X_test))
    assert len(np.unique(rows, axis=0)) == 503


def test_without_a_train_dev_set_the_split_is_empty_and_summarised_as_zero():
    data = prepare()
    assert not data.has_train_dev
    assert data.X_train_dev.shape == (0, 2) and data.y_train_dev.shape == (0,)
    assert data.summary()["n_train_dev"] == 0
    assert set(data.splits()) == {"train", "dev", "test"}


def test_make_data_returns_the_train_dev_set_when_there_is_one():
    config = {"data": {"split": TRAIN_DEV_SPLIT}}
    splits = make_data(config)
    data = prepare(split=TRAIN_DEV_SPLIT)
    assert set(splits) == {"train", "dev", "test", "train_dev"}
    np.testing.assert_array_equal(splits["train_dev"][0], data.X_train_dev)


@pytest.mark.parametrize("dataset", ["circles", "xor", "moons"])
def test_train_dev_is_drawn_like_train_even_when_dev_is_mismatched(dataset):
    # Same clean points, two dev noises: train and train-dev do not move, dev does.
    base = raw(dataset=dataset, n_samples=2000, noise=0.1, split=TRAIN_DEV_SPLIT)
    mismatched = raw(dataset=dataset, n_samples=2000, noise=0.1, dev_noise=0.6, split=TRAIN_DEV_SPLIT)
    np.testing.assert_array_equal(base.X_train, mismatched.X_train)
    np.testing.assert_array_equal(base.X_train_dev, mismatched.X_train_dev)
    assert (mismatched.X_dev - base.X_dev).std() == pytest.approx(0.5, rel=0.1)
    assert mismatched.bayes_error("train_dev") == mismatched.bayes_error("train")
    assert mismatched.bayes_error("dev") > mismatched.bayes_error("train_dev")


def test_digits_train_dev_gets_no_dev_pixel_noise():
    data = raw(dataset="digits", n_samples=600, dev_noise=0.3, split=TRAIN_DEV_SPLIT)
    for X in (data.X_train, data.X_train_dev):
        np.testing.assert_array_equal(X, np.round(X))
    assert not np.array_equal(data.X_dev, np.round(data.X_dev))


def test_train_dev_is_normalized_with_the_training_statistics():
    data = prepare(n_samples=1000, split=TRAIN_DEV_SPLIT)
    unnormalized = raw(n_samples=1000, split=TRAIN_DEV_SPLIT)
    np.testing.assert_allclose(data.mean, unnormalized.X_train.mean(axis=0))
    np.testing.assert_allclose(data.X_train_dev, (unnormalized.X_train_dev - data.mean) / data.std)
    # its own statistics would make its mean exactly zero
    assert np.abs(data.X_train_dev.mean(axis=0)).max() > 1e-6


def test_label_noise_flips_that_fraction_of_the_train_dev_set_too():
    clean = prepare(n_samples=1000, split=TRAIN_DEV_SPLIT)
    noisy = prepare(n_samples=1000, label_noise=0.1, split=TRAIN_DEV_SPLIT)
    assert int((clean.y_train_dev != noisy.y_train_dev).sum()) == 20


@pytest.mark.parametrize("dataset", DATASETS_2D + ["digits"])
def test_data_shape_names_what_the_data_set_makes(dataset):
    data = prepare(dataset=dataset, n_samples=100)
    assert data_shape(dataset) == (data.n_features, data.n_classes)
