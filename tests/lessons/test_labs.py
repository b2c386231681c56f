import numpy as np
import pytest

from server.engine.config import ConfigError
from server.lessons.labs import (
    OPTIMIZER_NAMES,
    SURFACES,
    AveragesLabSettings,
    NormalizationLabSettings,
    OptimizerLabSettings,
    averages_lab,
    check_surface_gradient,
    descend,
    exponentially_weighted_average,
    make_lab_optimizer,
    normalization_lab,
    optimizer_race,
    parse_lab_settings,
    trajectory_outcome,
)


def race(surface: str, **settings) -> dict[str, dict]:
    trajectories = optimizer_race(OptimizerLabSettings(surface=surface, **settings))
    return {name: trajectory_outcome(SURFACES[surface], path) for name, path in trajectories.items()}


@pytest.mark.parametrize("surface_id", sorted(SURFACES))
def test_each_surface_gradient_matches_centered_differences(surface_id):
    surface = SURFACES[surface_id]
    rng = np.random.default_rng(3)
    points = np.column_stack([rng.uniform(*surface.x_range, 200), rng.uniform(*surface.y_range, 200)])
    assert check_surface_gradient(surface, points) < 1e-6


def test_the_gradient_check_catches_a_wrong_gradient():
    bowl = SURFACES["elongated-bowl"]
    broken = type(bowl)(**{**bowl.__dict__, "gradient": lambda x, y: (0.1 * x, 2 * y)})
    assert check_surface_gradient(broken, np.array([[1.0, 1.0], [2.0, -1.0]])) > 0.1


@pytest.mark.parametrize("surface_id", sorted(SURFACES))
def test_each_surface_minimum_is_where_the_gradient_vanishes(surface_id):
    surface = SURFACES[surface_id]
    gradient = surface.gradient(*np.array(surface.minimum))
    assert np.allclose(gradient, 0.0)
    assert surface.x_range[0] <= surface.start[0] <= surface.x_range[1]
    assert surface.y_range[0] <= surface.start[1] <= surface.y_range[1]


def test_adam_and_momentum_leave_the_saddle_while_gd_stays_before_it():
    outcomes = race("saddle")
    assert outcomes["adam"]["reached_minimum"]
    assert outcomes["momentum"]["reached_minimum"]
    # Gradient descent creeps towards the flat point and stops short of it.
    assert not outcomes["gd"]["reached_minimum"]
    assert -0.2 < outcomes["gd"]["y"] < 0.0
    assert abs(outcomes["gd"]["x"]) < 1e-3
    assert outcomes["gd"]["gradient_norm"] < 1e-2


def test_the_saddle_origin_is_stationary_but_lower_ground_lies_beyond():
    saddle = SURFACES["saddle"]
    assert np.allclose(saddle.gradient(0.0, 0.0), 0.0)
    assert saddle.value(0.0, 0.5) < saddle.value(0.0, 0.0)
    assert saddle.value(0.0, -0.5) > saddle.value(0.0, 0.0)


def test_plain_gd_crawls_on_the_plateau_while_adam_and_rmsprop_cross_it():
    outcomes = race("plateau")
    assert outcomes["gd"]["distance_moved"] < 0.01
    assert outcomes["momentum"]["distance_moved"] < 0.01
    assert outcomes["adam"]["reached_minimum"]
    assert outcomes["rmsprop"]["distance_to_minimum"] < 0.2


def test_momentum_damps_the_zigzag_that_gd_makes_in_the_bowl():
    settings = OptimizerLabSettings(surface="elongated-bowl", learning_rate=0.49, steps=60)
    trajectories = optimizer_race(settings)

    def sign_flips(path):
        return int(np.sum(np.diff(np.sign(path.points[:, 1])) != 0))

    assert sign_flips(trajectories["gd"]) == 60
    assert sign_flips(trajectories["momentum"]) < 15


def test_everyone_makes_progress_down_rosenbrocks_valley():
    outcomes = race("rosenbrock")
    start_loss = SURFACES["rosenbrock"].value(*SURFACES["rosenbrock"].start)
    for outcome in outcomes.values():
        assert outcome["loss"] < start_loss / 10


def test_a_too_large_learning_rate_diverges_without_producing_non_finite_points():
    trajectories = optimizer_race(OptimizerLabSettings(surface="rosenbrock", learning_rate=5.0, steps=400))
    gd = trajectories["gd"]
    assert gd.diverged_at is not None
    assert np.all(np.isfinite(gd.points)) and np.all(np.isfinite(gd.losses))
    assert trajectory_outcome(SURFACES["rosenbrock"], gd)["diverged"]


def test_the_lab_uses_the_engines_own_optimizers_with_the_chosen_betas():
    optimizer = make_lab_optimizer("adam", {"beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6, "beta": 0.5})
    assert type(optimizer).__module__ == "server.engine.optimizers"
    assert optimizer.hyperparameters() == {"beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6}
    assert make_lab_optimizer("momentum", {"beta": 0.5}).hyperparameters() == {"beta": 0.5}
    with pytest.raises(ValueError):
        make_lab_optimizer("sgd", {})


def test_beta_zero_momentum_is_plain_gradient_descent():
    bowl = SURFACES["elongated-bowl"]
    plain = descend(bowl, make_lab_optimizer("gd", {}), bowl.start, 0.3, 20)
    momentum = descend(bowl, make_lab_optimizer("momentum", {"beta": 0.0}), bowl.start, 0.3, 20)
    assert np.allclose(plain.points, momentum.points)


def test_the_same_start_and_settings_give_the_same_race():
    first, second = race("rosenbrock", x0=0.5, y0=2.5), race("rosenbrock", x0=0.5, y0=2.5)
    assert first == second
    assert set(first) == set(OPTIMIZER_NAMES)
    assert all(outcome["steps"] == SURFACES["rosenbrock"].steps for outcome in first.values())


@pytest.mark.parametrize(
    ("raw", "loc"),
    [({"surface": "volcano"}, "surface"),
     ({"learning_rate": 0}, "learning_rate"),
     ({"beta1": 1.0}, "beta1"),
     ({"beta": "lots"}, "beta"),
     ({"steps": 5000}, "steps"),
     ({"surface": "saddle", "x0": 9}, "x0"),
     ({"surface": "plateau", "y0": -6}, "y0"),
     ({"steps": 2000, "steps_per_second": 10}, "steps_per_second"),
     ({"colour": "red"}, "colour")],
)
def test_bad_optimizer_settings_name_the_field(raw, loc):
    with pytest.raises(ConfigError) as raised:
        parse_lab_settings(OptimizerLabSettings, raw)
    assert [detail["loc"] for detail in raised.value.details] == [loc]


def test_normalized_inputs_make_the_cost_round_and_gradient_descent_fast():
    result = normalization_lab(NormalizationLabSettings())
    raw, normalized = result["raw"], result["normalized"]
    assert raw["condition_number"] > 30
    assert normalized["condition_number"] < 1.5
    assert raw["learning_rate"] < raw["largest_stable_learning_rate"]
    assert normalized["steps_to_converge"] <= 10
    assert raw["steps_to_converge"] is None or raw["steps_to_converge"] > 10 * normalized["steps_to_converge"]
    # Both panels fit the same line: the normalized optimum is the raw one times the spread.
    assert np.allclose(np.array(normalized["optimum"]) / np.array(result["std"]), raw["optimum"], rtol=0.05)
    assert len(raw["cost"]) == len(raw["w2"]) and len(raw["cost"][0]) == len(raw["w1"])


def test_each_normalization_grid_spans_both_weights_equally_around_the_start_and_optimum():
    # Drawn at equal axis scales, a square grid fills the plot and round contours look round.
    result = normalization_lab(NormalizationLabSettings())
    for panel in (result["raw"], result["normalized"]):
        w1, w2 = np.array(panel["w1"]), np.array(panel["w2"])
        assert w1[-1] - w1[0] == pytest.approx(w2[-1] - w2[0])
        for point in ([0.0, 0.0], panel["optimum"]):
            assert w1[0] < point[0] < w1[-1] and w2[0] < point[1] < w2[-1]


def test_raw_inputs_diverge_at_a_rate_the_normalized_inputs_take_easily():
    settings = NormalizationLabSettings(learning_rate_raw=0.02, learning_rate_normalized=0.02)
    result = normalization_lab(settings)
    assert result["raw"]["diverged"]
    assert all(np.isfinite(value) for point in result["raw"]["path"] for value in point)
    assert not result["normalized"]["diverged"]


def test_exponentially_weighted_average_by_hand():
    values = np.array([10.0, 20.0, 30.0])
    plain = exponentially_weighted_average(values, 0.5, bias_correction=False)
    corrected = exponentially_weighted_average(values, 0.5, bias_correction=True)
    assert np.allclose(plain, [5.0, 12.5, 21.25])
    assert np.allclose(corrected, [10.0, 12.5 / 0.75, 21.25 / 0.875])
    assert np.allclose(exponentially_weighted_average(values, 0.0, bias_correction=False), values)


def test_averages_show_the_window_and_the_warmup_bias():
    result = averages_lab(AveragesLabSettings())
    by_beta = {entry["beta"]: entry for entry in result["averages"]}
    assert sorted(by_beta) == [0.5, 0.9, 0.98]
    assert by_beta[0.9]["window"] == pytest.approx(10.0)
    assert by_beta[0.98]["window"] == pytest.approx(50.0)
    # The zero start drags the plain average down, the more so the larger beta.
    biases = [by_beta[beta]["warmup_bias"] for beta in (0.5, 0.9, 0.98)]
    assert biases[0] < 0 and biases[2] < biases[1] < biases[0]
    # With correction the first average is the first measurement itself.
    assert by_beta[0.98]["corrected"][0] == pytest.approx(result["temperature"][0], abs=1e-3)
    # Long after the warm-up the two agree.
    assert by_beta[0.9]["corrected"][-1] == pytest.approx(by_beta[0.9]["uncorrected"][-1], rel=1e-3)
    # Larger beta: smoother (less day-to-day change).
    roughness = [np.abs(np.diff(by_beta[beta]["corrected"][60:])).mean() for beta in (0.5, 0.9, 0.98)]
    assert roughness[0] > roughness[1] > roughness[2]
    # One window back, a day's weight has fallen to about 1/e of today's.
    assert by_beta[0.98]["weight_after_window"] == pytest.approx(np.exp(-1), abs=0.01)


def test_bad_average_settings_name_the_field():
    with pytest.raises(ConfigError) as raised:
        parse_lab_settings(AveragesLabSettings, {"betas": [0.9, 1.0]})
    assert raised.value.details[0]["loc"] == "betas.1"
    with pytest.raises(ConfigError) as raised:
        parse_lab_settings(AveragesLabSettings, {"betas": [0.9, "x"]})
    assert raised.value.details[0]["loc"] == "betas.1"
    with pytest.raises(ConfigError) as raised:
        parse_lab_settings(AveragesLabSettings, {"days": 5})
    assert raised.value.details[0]["loc"] == "days"
    with pytest.raises(ConfigError) as raised:
        parse_lab_settings(AveragesLabSettings, {"betas": []})
    assert raised.value.details[0]["loc"] == "betas"


def test_the_things_to_try_on_the_optimizer_page_happen():
    # Elongated bowl at alpha 0.5: gradient descent bounces for ever, momentum converges.
    bowl = race("elongated-bowl", learning_rate=0.5)
    assert not bowl["gd"]["reached_minimum"] and bowl["momentum"]["reached_minimum"]
    # Saddle with beta 0: momentum is gradient descent and stalls too.
    saddle = race("saddle", beta=0.0)
    assert saddle["momentum"] == {**saddle["gd"], "optimizer": "momentum"}
    # Plateau at ten times the rate: gradient descent still crawls.
    assert race("plateau", learning_rate=1.0)["gd"]["distance_moved"] < 0.05


def test_a_small_step_on_normalized_inputs_still_beats_the_best_raw_one():
    result = normalization_lab(NormalizationLabSettings(learning_rate_normalized=0.1))
    assert result["normalized"]["steps_to_converge"] < result["raw"]["steps_to_converge"] / 2
