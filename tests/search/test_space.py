import math

import numpy as np
import pytest

from server.search import space as spaces
from server.search.space import Choice, IntLogUniform, IntUniform, LogUniform, OneMinusLogUniform, Uniform

N = 4000
# Kolmogorov-Smirnov critical value at alpha = 0.001 for N samples; at a fixed
# seed the statistic is a constant, so this bound documents the margin rather
# than guarding against chance.
KS_CRITICAL = 1.95 / math.sqrt(N)


def ks_uniform(samples: np.ndarray, low: float, high: float) -> float:
    """Largest gap between the empirical CDF of ``samples`` and the uniform CDF on [low, high]."""
    ordered = np.sort((samples - low) / (high - low))
    n = len(ordered)
    above = np.arange(1, n + 1) / n - ordered
    below = ordered - np.arange(0, n) / n
    return float(max(above.max(), below.max()))


def draws(dist, seed=0, n=N) -> np.ndarray:
    return dist.sample_many(np.random.default_rng(seed), n)


def test_log_uniform_is_uniform_in_the_exponent():
    dist = LogUniform(distribution="log_uniform", low=1e-4, high=1.0)
    samples = draws(dist)
    assert samples.min() >= 1e-4 and samples.max() <= 1.0
    assert ks_uniform(np.log10(samples), -4, 0) < KS_CRITICAL
    # Each decade gets a quarter of the trials; a linear sampler would put
    # 99% of them above 0.01.
    below_a_hundredth = np.mean(samples < 1e-2)
    assert 0.45 < below_a_hundredth < 0.55


def test_log_uniform_samples_are_not_linearly_uniform():
    samples = draws(LogUniform(distribution="log_uniform", low=1e-4, high=1.0))
    assert ks_uniform(samples, 1e-4, 1.0) > 0.5


def test_uniform_is_uniform():
    samples = draws(Uniform(distribution="uniform", low=0.2, high=0.9))
    assert samples.min() >= 0.2 and samples.max() <= 0.9
    assert ks_uniform(samples, 0.2, 0.9) < KS_CRITICAL


def test_beta_sampler_concentrates_near_one():
    dist = OneMinusLogUniform(distribution="one_minus_log_uniform", low=0.9, high=0.999)
    samples = draws(dist)
    assert samples.min() >= 0.9 and samples.max() <= 0.999
    assert ks_uniform(np.log10(1 - samples), -3, -1) < KS_CRITICAL
    # Half the betas lie in [0.99, 0.999], a tenth of the interval; uniform
    # sampling would put only 9% of them there.
    assert 0.45 < np.mean(samples >= 0.99) < 0.55
    assert np.median(samples) == pytest.approx(0.99, abs=0.002)


def test_int_uniform_hits_every_integer_evenly():
    samples = draws(IntUniform(distribution="int_uniform", low=3, high=7))
    assert samples.dtype.kind == "i" or np.all(samples == np.round(samples))
    values, counts = np.unique(samples, return_counts=True)
    assert values.tolist() == [3, 4, 5, 6, 7]
    assert counts.min() > 0.9 * N / 5 and counts.max() < 1.1 * N / 5


def test_int_log_uniform_spreads_over_decades():
    samples = draws(IntLogUniform(distribution="int_log_uniform", low=1, high=999))
    assert samples.min() >= 1 and samples.max() <= 999
    assert np.all(samples == np.round(samples))
    assert 0.28 < np.mean(samples < 10) < 0.38
    assert 0.28 < np.mean(samples >= 100) < 0.38


def test_choice_draws_each_value():
    dist = Choice(distribution="choice", values=["adam", "momentum", "gd"])
    samples = [dist.sample(np.random.default_rng(seed)) for seed in range(300)]
    counts = {value: samples.count(value) for value in dist.values}
    assert set(samples) == set(dist.values)
    assert min(counts.values()) > 70


def test_sampling_depends_only_on_the_injected_generator():
    space = {"optimizer.learning_rate": LogUniform(distribution="log_uniform", low=1e-4, high=1),
             "optimizer.name": Choice(distribution="choice", values=["adam", "gd"])}
    first = spaces.sample(5, space, np.random.default_rng(7))
    np.random.seed(123)  # the global generator must not matter
    again = spaces.sample(5, space, np.random.default_rng(7))
    assert first == again
    assert first != spaces.sample(5, space, np.random.default_rng(8))


def test_grid_enumerates_the_product_on_each_scale():
    space = {"optimizer.learning_rate": LogUniform(distribution="log_uniform", low=1e-4, high=1),
             "optimizer.beta": OneMinusLogUniform(distribution="one_minus_log_uniform", low=0.9, high=0.999)}
    points = spaces.grid(9, space)
    assert len(points) == 9
    assert len({tuple(p.values()) for p in points}) == 9
    rates = sorted({p["optimizer.learning_rate"] for p in points})
    betas = sorted({p["optimizer.beta"] for p in points})
    assert rates == pytest.approx([1e-4, 1e-2, 1.0])
    assert betas == pytest.approx([0.9, 0.99, 0.999])


def test_grid_gives_choices_all_their_values_and_shares_the_rest():
    space = {"optimizer.name": Choice(distribution="choice", values=["adam", "momentum"]),
             "optimizer.learning_rate": LogUniform(distribution="log_uniform", low=1e-3, high=1e-1)}
    assert spaces.grid_points_per_axis(12, space) == 6
    points = spaces.grid(12, space)
    assert len(points) == 12
    assert {p["optimizer.name"] for p in points} == {"adam", "momentum"}


@pytest.mark.parametrize(("trials", "axes", "expected"),
                         [(12, 2, 3), (8, 3, 2), (27, 3, 3), (3, 2, 1), (1, 1, 1)])
def test_grid_fits_the_trial_budget(trials, axes, expected):
    space = {f"axis{i}": Uniform(distribution="uniform", low=0, high=1) for i in range(axes)}
    assert spaces.grid_points_per_axis(trials, space) == expected
    assert len(spaces.grid(trials, space)) == expected ** axes <= trials


def test_integer_grid_drops_repeats():
    assert IntUniform(distribution="int_uniform", low=1, high=2).grid(5) == [1, 2]


def test_zoom_narrows_each_range_on_its_own_scale():
    space = {"optimizer.learning_rate": LogUniform(distribution="log_uniform", low=1e-4, high=1.0),
             "optimizer.beta": OneMinusLogUniform(distribution="one_minus_log_uniform", low=0.9, high=0.999),
             "model.hidden.0.units": IntUniform(distribution="int_uniform", low=1, high=101),
             "optimizer.name": Choice(distribution="choice", values=["adam", "momentum", "gd"])}
    best = [{"optimizer.learning_rate": 1e-2, "optimizer.beta": 0.99, "model.hidden.0.units": 40,
             "optimizer.name": "adam"},
            {"optimizer.learning_rate": 1e-3, "optimizer.beta": 0.995, "model.hidden.0.units": 60,
             "optimizer.name": "momentum"}]
    zoomed = spaces.zoom(space, best, margin=0.1)
    rate = zoomed["optimizer.learning_rate"]
    # The best rates span 1e-3..1e-2 (one decade of four); 0.4 decades of padding each side.
    assert math.log10(rate.low) == pytest.approx(-3.4)
    assert math.log10(rate.high) == pytest.approx(-1.6)
    beta = zoomed["optimizer.beta"]
    # 1 - beta spans 0.005..0.01 on a two-decade range: 0.2 decades each side.
    assert math.log10(1 - beta.high) == pytest.approx(math.log10(0.005) - 0.2)
    assert math.log10(1 - beta.low) == pytest.approx(-2 + 0.2)
    units = zoomed["model.hidden.0.units"]
    assert (units.low, units.high) == (30, 70)
    assert zoomed["optimizer.name"].values == ["adam", "momentum"]


def test_zoom_never_widens_past_the_old_range():
    space = {"optimizer.learning_rate": LogUniform(distribution="log_uniform", low=1e-3, high=1e-1)}
    zoomed = spaces.zoom(space, [{"optimizer.learning_rate": 1e-3}, {"optimizer.learning_rate": 0.1}])
    assert (zoomed["optimizer.learning_rate"].low, zoomed["optimizer.learning_rate"].high) == (1e-3, 0.1)


def test_zoom_keeps_an_integer_range_open():
    space = {"units": IntUniform(distribution="int_uniform", low=4, high=5)}
    zoomed = spaces.zoom(space, [{"units": 5}])
    assert (zoomed["units"].low, zoomed["units"].high) == (4, 5)


def test_zoom_of_one_trial_still_leaves_a_range():
    space = {"rate": LogUniform(distribution="log_uniform", low=1e-4, high=1.0)}
    zoomed = spaces.zoom(space, [{"rate": 1e-2}])["rate"]
    assert zoomed.low < 1e-2 < zoomed.high
    assert math.log10(zoomed.high / zoomed.low) == pytest.approx(0.8)
