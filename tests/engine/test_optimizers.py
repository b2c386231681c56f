"""Optimizers against golden values derived once, by hand, from the contract's formulas.

The expected numbers below were computed with 50-digit decimal arithmetic from
the scalar formulas (one element at a time), independently of the vectorized
implementation, and written down as literals.
"""

import numpy as np
import pytest

from server.engine.config import RunConfig
from server.engine.optimizers import (
    Adam,
    GradientDescent,
    Momentum,
    Optimizer,
    RMSprop,
    make_optimizer,
)

LEARNING_RATE = 0.1

# Two parameter arrays, W of shape (2, 2) and b of shape (2,), and the gradients of three steps.
START = [[[1.0, -2.0], [0.5, 3.0]], [0.25, -0.75]]
GRADIENTS = [
    [[[0.1, -0.2], [0.3, 0.0]], [1.0, -0.5]],
    [[[-0.1, 0.4], [0.3, 0.2]], [0.5, 0.5]],
    [[[0.2, 0.2], [-0.6, 0.1]], [-1.0, 0.25]],
]

# Parameters after steps 1, 2 and 3, flattened (W row-major, then b).
GOLDEN = {
    "gd": [
        [0.99, -1.98, 0.47, 3.0, 0.15, -0.7],
        [1.0, -2.02, 0.44, 2.98, 0.1, -0.75],
        [0.98, -2.04, 0.5, 2.97, 0.2, -0.775],
    ],
    "momentum": [
        [0.999, -1.998, 0.497, 3.0, 0.24, -0.745],
        [0.9991, -2.0002, 0.4913, 2.998, 0.226, -0.7455],
        [0.99719, -2.00418, 0.49217, 2.9952, 0.2234, -0.74845],
    ],
    "rmsprop": [
        [0.6837723339831304, -1.6837722839831541, 0.18377226731649188, 3.0,
         -0.06622775601683825, -0.4337722539831608],
        [0.9131880152221253, -1.9694865492892781, -0.04564344901021157, 2.683772283983154,
         -0.21366970782390943, -0.6631879773274073],
        [0.6485136476240463, -2.1054434757102274, 0.2190309419387098, 2.5363303495673843,
         0.008005836522822102, -0.776126460088523],
    ],
    "adam": [
        [0.900000009999999, -1.9000000049999997, 0.40000000333333324, 3.0, 0.150000001,
         -0.650000002],
        [0.90526316736842, -1.936610356546037, 0.30000000666666643, 2.9255863229038273,
         0.056782038298160406, -0.6552631597894737],
        [0.8554389564957174, -1.9885344363316626, 0.30756493956407316, 2.8455621975851924,
         0.04570373129387101, -0.6804065897387425],
    ],
}

OPTIMIZERS = {
    "gd": lambda: GradientDescent(),
    "momentum": lambda: Momentum(beta=0.9),
    "rmsprop": lambda: RMSprop(beta=0.9, epsilon=1e-8),
    "adam": lambda: Adam(beta1=0.9, beta2=0.999, epsilon=1e-8),
}


def fresh_params():
    return [np.array(array, dtype=np.float64) for array in START]


def flat(params):
    return np.concatenate([param.ravel() for param in params])


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_one_and_several_steps_match_the_golden_values(name):
    optimizer = OPTIMIZERS[name]()
    params = fresh_params()
    for step, grads in enumerate(GRADIENTS):
        optimizer.step(params, [np.array(grad) for grad in grads], LEARNING_RATE)
        np.testing.assert_allclose(flat(params), GOLDEN[name][step], rtol=1e-13, atol=1e-15,
                                   err_msg=f"{name} after step {step + 1}")


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_one_flat_parameter_vector_follows_the_same_golden_values(name):
    # A network that keeps all its parameters in one vector passes a single array.
    optimizer = OPTIMIZERS[name]()
    vector = flat(fresh_params())
    for step, grads in enumerate(GRADIENTS):
        gradient = flat([np.array(grad) for grad in grads])
        before = gradient.copy()
        optimizer.step([vector], [gradient], LEARNING_RATE)
        np.testing.assert_array_equal(gradient, before)
        np.testing.assert_allclose(vector, GOLDEN[name][step], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_parameters_are_updated_in_place_and_gradients_left_alone(name):
    optimizer = OPTIMIZERS[name]()
    params = fresh_params()
    originals = list(params)
    grads = [np.array(grad) for grad in GRADIENTS[0]]
    grads_before = [grad.copy() for grad in grads]
    optimizer.step(params, grads, LEARNING_RATE)
    assert all(after is before for after, before in zip(params, originals, strict=True))
    assert not np.allclose(flat(params), flat(fresh_params()))
    for grad, before in zip(grads, grads_before, strict=True):
        np.testing.assert_array_equal(grad, before)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_many_arrays_and_their_concatenation_take_identical_steps(name):
    rng = np.random.default_rng(21)
    shapes = [(3, 4), (4,), (4, 1), (1,), (2, 3, 2)]
    arrays = [rng.standard_normal(shape) for shape in shapes]
    separate, together = OPTIMIZERS[name](), OPTIMIZERS[name]()
    vector = flat(arrays)
    for _ in range(4):
        grads = [rng.standard_normal(shape) for shape in shapes]
        separate.step(arrays, grads, 0.03)
        together.step([vector], [flat(grads)], 0.03)
    np.testing.assert_array_equal(flat(arrays), vector)


def test_non_contiguous_parameter_views_are_updated_in_place():
    matrix = np.zeros((4, 6))
    columns = matrix[:, ::2]                    # a strided view into matrix
    optimizer = Momentum(beta=0.0)
    optimizer.step([columns, matrix[0, 1:2]], [np.ones((4, 3)), np.ones(1)], 0.5)
    np.testing.assert_array_equal(matrix[:, ::2], -0.5)
    assert matrix[0, 1] == -0.5
    assert matrix[1:, 1::2].sum() == 0.0 and matrix[0, 3::2].sum() == 0.0


def test_adam_first_step_moves_each_weight_by_the_learning_rate_against_the_gradient_sign():
    rng = np.random.default_rng(3)
    params = [rng.standard_normal((4, 3)), rng.standard_normal(3)]
    signs = [rng.choice([-1.0, 1.0], size=(4, 3)), rng.choice([-1.0, 1.0], size=3)]
    # Magnitudes far apart, but far above epsilon: the first Adam step ignores them.
    grads = [signs[0] * rng.uniform(1e-3, 2e-3, (4, 3)), signs[1] * rng.uniform(10.0, 50.0, 3)]
    before = [param.copy() for param in params]
    Adam().step(params, grads, 0.01)
    for param, old, grad in zip(params, before, grads, strict=True):
        np.testing.assert_allclose(old - param, 0.01 * np.sign(grad), rtol=1e-4)


def test_adam_counts_steps_for_bias_correction_and_reset_starts_over():
    optimizer = Adam()
    params = fresh_params()
    for grads in GRADIENTS:
        optimizer.step(params, [np.array(grad) for grad in grads], LEARNING_RATE)
    assert optimizer.steps == 3
    optimizer.reset_state()
    assert optimizer.steps == 0
    params = fresh_params()
    optimizer.step(params, [np.array(grad) for grad in GRADIENTS[0]], LEARNING_RATE)
    np.testing.assert_allclose(flat(params), GOLDEN["adam"][0], rtol=1e-13)


def test_momentum_state_is_the_averaged_velocity():
    optimizer = Momentum(beta=0.5)
    params = [np.zeros(2)]
    optimizer.step(params, [np.array([4.0, -2.0])], 1.0)
    optimizer.step(params, [np.array([0.0, 2.0])], 1.0)
    # v1 = 0.5 * g1 = [2, -1]; v2 = 0.5 * v1 + 0.5 * g2 = [1, 0.5]
    np.testing.assert_allclose(optimizer.state()["v"][0], [1.0, 0.5])
    np.testing.assert_allclose(params[0], [-3.0, 0.5])


def test_state_is_kept_when_hyperparameters_change_between_steps():
    optimizer = Momentum(beta=0.9)
    params = [np.zeros(1)]
    optimizer.step(params, [np.array([1.0])], 1.0)   # v = 0.1
    optimizer.set_hyperparameters(beta=0.5)
    optimizer.step(params, [np.array([1.0])], 1.0)   # v = 0.5 * 0.1 + 0.5 * 1 = 0.55
    np.testing.assert_allclose(optimizer.state()["v"][0], [0.55])
    np.testing.assert_allclose(params[0], [-0.65])
    assert optimizer.hyperparameters() == {"beta": 0.5}


@pytest.mark.parametrize("cls, changes, fragment", [
    (Momentum, {"beta": 1.0}, "beta must be in [0, 1), got 1.0"),
    (Momentum, {"beta": -0.1}, "got -0.1"),
    (RMSprop, {"epsilon": 0.0}, "epsilon must be positive, got 0.0"),
    (Adam, {"beta2": float("nan")}, "beta2 must be finite"),
    (Adam, {"beta1": "0.9x"}, "beta1 must be a number, got '0.9x'"),
    (Adam, {"epsilon": True}, "epsilon must be a number"),
    (Adam, {"beta": 0.9}, "adam has no hyperparameter 'beta'"),
    (GradientDescent, {"beta": 0.9}, "gd has no hyperparameter 'beta'"),
])
def test_invalid_hyperparameters_raise_value_errors_echoing_the_value(cls, changes, fragment):
    with pytest.raises(ValueError) as error:
        cls(**changes)
    assert fragment in str(error.value)
    optimizer = cls()
    before = optimizer.hyperparameters()
    with pytest.raises(ValueError):
        optimizer.set_hyperparameters(**changes)
    assert optimizer.hyperparameters() == before


def test_a_rejected_update_changes_nothing_even_when_part_of_it_was_valid():
    optimizer = Adam()
    with pytest.raises(ValueError):
        optimizer.set_hyperparameters(beta1=0.5, beta2=2.0)
    assert optimizer.hyperparameters() == {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}


def test_defaults_and_hyperparameter_names():
    assert Momentum().hyperparameters() == {"beta": 0.9}
    assert RMSprop().hyperparameters() == {"beta": 0.9, "epsilon": 1e-8}
    assert Adam().hyperparameter_names == ("beta1", "beta2", "epsilon")
    assert GradientDescent().hyperparameter_names == ()


def test_make_optimizer_reads_the_run_config():
    config = RunConfig.model_validate(
        {"optimizer": {"name": "rmsprop", "beta": 0.8, "epsilon": 1e-6, "beta1": 0.5}})
    optimizer = make_optimizer(config.optimizer)
    assert isinstance(optimizer, RMSprop)
    assert optimizer.hyperparameters() == {"beta": 0.8, "epsilon": 1e-6}
    assert isinstance(make_optimizer(RunConfig().optimizer), Adam)
    assert isinstance(make_optimizer({"name": "gd", "learning_rate": 0.5}), GradientDescent)
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        make_optimizer({"name": "sgd"})


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_works_on_a_single_point_of_a_two_dimensional_surface(name):
    # The optimizer lab walks one point over a loss surface f(x, y) = x^2 + 10 y^2.
    optimizer = OPTIMIZERS[name]()
    point = np.array([[1.5, -1.0]])
    for _ in range(300):
        gradient = point * np.array([[2.0, 20.0]])
        optimizer.step([point], [gradient], 0.02)
    assert np.all(np.abs(point) < 0.1), point


def test_last_update_reports_what_was_subtracted_and_is_read_only():
    optimizer = GradientDescent()
    params = fresh_params()
    before = [param.copy() for param in params]
    grads = [np.array(grad) for grad in GRADIENTS[0]]
    optimizer.step(params, grads, LEARNING_RATE)
    updates = optimizer.last_update()
    assert [update.shape for update in updates] == [(2, 2), (2,)]
    for update, param, old in zip(updates, params, before, strict=True):
        np.testing.assert_allclose(update, old - param)
    with pytest.raises(ValueError):
        updates[0][0, 0] = 1.0


def test_state_is_empty_before_the_first_step_and_a_copy_after():
    optimizer = Adam()
    assert optimizer.state() == {"m": [], "v": []}
    params = fresh_params()
    optimizer.step(params, [np.array(grad) for grad in GRADIENTS[0]], LEARNING_RATE)
    state = optimizer.state()
    np.testing.assert_allclose(state["m"][1], [0.1, -0.05])
    state["m"][1][:] = 99.0
    np.testing.assert_allclose(optimizer.state()["m"][1], [0.1, -0.05])


def test_a_different_parameter_count_is_an_error_not_a_silent_mismatch():
    optimizer = Adam()
    params = fresh_params()
    optimizer.step(params, [np.array(grad) for grad in GRADIENTS[0]], LEARNING_RATE)
    with pytest.raises(ValueError, match="expected 2 parameter and gradient arrays, got 1 and 1"):
        optimizer.step(params[:1], [np.array(GRADIENTS[0][0])], LEARNING_RATE)
    single = Momentum()
    vector = np.zeros(3)
    single.step([vector], [np.ones(3)], 1.0)
    with pytest.raises(ValueError, match="got 1 and 2"):
        single.step([vector], [np.ones(3), np.ones(3)], 1.0)
    with pytest.raises(ValueError, match="no parameters"):
        GradientDescent().step([], [], 1.0)


def test_repr_names_the_hyperparameters():
    assert repr(Momentum(beta=0.5)) == "Momentum(beta=0.5)"
    assert issubclass(Adam, Optimizer)
