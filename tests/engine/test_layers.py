"""Each layer's backward against finite differences of its forward (float64); the network built of them."""

import numpy as np
import pytest

from server.engine.gradcheck import numerical_gradient, relative_difference
from server.engine.layers import (
    ACTIVATIONS,
    BATCH_NORM_MOMENTUM,
    affine_backward,
    affine_forward,
    batchnorm_backward,
    batchnorm_forward,
    dropout_backward,
    dropout_forward,
    relu_backward,
    relu_forward,
    sigmoid,
    sigmoid_cross_entropy,
    sigmoid_cross_entropy_loss,
    softmax,
    softmax_cross_entropy,
    softmax_cross_entropy_loss,
    targets_from_labels,
)
from server.engine.model import HiddenLayer, Network


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def assert_gradient_close(numeric, analytic, tolerance=1e-8):
    assert numeric.shape == analytic.shape
    assert relative_difference(numeric, analytic) < tolerance


def test_affine_backward_matches_finite_differences(rng):
    x, W, b = rng.normal(size=(5, 4)), rng.normal(size=(4, 3)), rng.normal(size=3)
    upstream = rng.normal(size=(5, 3))
    project = lambda: float(np.sum(affine_forward(x, W, b)[0] * upstream))
    _, cache = affine_forward(x, W, b)
    dx, dW, db = affine_backward(upstream, cache)
    assert_gradient_close(numerical_gradient(project, x), dx)
    assert_gradient_close(numerical_gradient(project, W), dW)
    assert_gradient_close(numerical_gradient(project, b), db)


def test_affine_backward_writes_into_given_buffers_and_can_skip_dx(rng):
    x, W = rng.normal(size=(6, 2)), rng.normal(size=(2, 3))
    dz = rng.normal(size=(6, 3))
    dW_buffer, db_buffer = np.full((2, 3), 7.0), np.full(3, 7.0)
    dx, dW, db = affine_backward(dz, affine_forward(x, W, np.zeros(3))[1], need_dx=False,
                                 dW_out=dW_buffer, db_out=db_buffer)
    assert dx is None and dW is dW_buffer and db is db_buffer
    np.testing.assert_allclose(dW_buffer, x.T @ dz)
    np.testing.assert_allclose(db_buffer, dz.sum(axis=0))


def test_a_layer_without_bias_has_no_bias_gradient(rng):
    x, W = rng.normal(size=(4, 2)), rng.normal(size=(2, 3))
    z, cache = affine_forward(x, W, None)
    np.testing.assert_allclose(z, x @ W)
    assert affine_backward(rng.normal(size=(4, 3)), cache)[2] is None


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_backward_matches_finite_differences(rng, name):
    activation = ACTIVATIONS[name]
    # Keep inputs away from the kink at 0 so finite differences are exact.
    z = rng.normal(size=(6, 5))
    z[np.abs(z) < 0.05] = 0.3
    upstream = rng.normal(size=z.shape)
    project = lambda: float(np.sum(activation.forward(z)[0] * upstream))
    _, cache = activation.forward(z)
    assert_gradient_close(numerical_gradient(project, z), activation.backward(upstream, cache))


def test_activation_values():
    z = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_allclose(ACTIVATIONS["relu"].forward(z)[0], [[0, 0, 3]])
    np.testing.assert_allclose(ACTIVATIONS["leaky_relu"].forward(z)[0], [[-0.02, 0, 3]])
    np.testing.assert_allclose(ACTIVATIONS["sigmoid"].forward(z)[0], 1 / (1 + np.exp(-z)))
    np.testing.assert_allclose(ACTIVATIONS["tanh"].forward(z)[0], np.tanh(z))
    np.testing.assert_allclose(ACTIVATIONS["linear"].forward(z)[0], z)


def test_sigmoid_does_not_overflow():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        values = sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_allclose(values, [0.0, 0.5, 1.0])


def test_batchnorm_training_backward_matches_finite_differences(rng):
    z = rng.normal(2.0, 3.0, size=(8, 4))
    gamma, beta = rng.normal(size=4), rng.normal(size=4)
    upstream = rng.normal(size=z.shape)

    def project():
        out, _ = batchnorm_forward(z, gamma, beta, np.zeros(4), np.ones(4), True, update_running=False)
        return float(np.sum(out * upstream))

    _, cache = batchnorm_forward(z, gamma, beta, np.zeros(4), np.ones(4), True, update_running=False)
    dz, dgamma, dbeta = batchnorm_backward(upstream, cache)
    assert_gradient_close(numerical_gradient(project, z), dz, 1e-7)
    assert_gradient_close(numerical_gradient(project, gamma), dgamma)
    assert_gradient_close(numerical_gradient(project, beta), dbeta)


def test_batchnorm_normalizes_and_tracks_running_averages(rng):
    z = rng.normal(5.0, 2.0, size=(50, 3))
    running_mean, running_var = np.zeros(3), np.ones(3)
    out, _ = batchnorm_forward(z, np.ones(3), np.zeros(3), running_mean, running_var, True)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-5)
    keep = BATCH_NORM_MOMENTUM
    np.testing.assert_allclose(running_mean, (1 - keep) * z.mean(axis=0))
    np.testing.assert_allclose(running_var, keep + (1 - keep) * z.var(axis=0))


def test_batchnorm_evaluation_uses_running_averages_and_leaves_them_alone():
    z = np.array([[1.0, 2.0], [3.0, 6.0]])
    running_mean, running_var = np.array([1.0, 2.0]), np.array([4.0, 16.0])
    gamma, beta = np.array([2.0, 1.0]), np.array([0.5, -1.0])
    out, cache = batchnorm_forward(z, gamma, beta, running_mean, running_var, False)
    assert cache is None
    expected = gamma * (z - [1.0, 2.0]) / np.sqrt(np.array([4.0, 16.0]) + 1e-5) + beta
    np.testing.assert_allclose(out, expected)
    np.testing.assert_array_equal(running_mean, [1.0, 2.0])


def test_batchnorm_of_a_single_example_stays_finite():
    out, cache = batchnorm_forward(np.array([[3.0, -1.0]]), np.ones(2), np.full(2, 0.25),
                                   np.zeros(2), np.ones(2), True)
    np.testing.assert_allclose(out, [[0.25, 0.25]])
    dz, _, _ = batchnorm_backward(np.ones((1, 2)), cache)
    assert np.isfinite(dz).all()


def test_inverted_dropout_keeps_the_expectation_and_masks_the_gradient(rng):
    a = np.ones((2000, 10))
    out, mask = dropout_forward(a, 0.8, rng)
    kept = out != 0
    assert abs(kept.mean() - 0.8) < 0.01
    np.testing.assert_allclose(out[kept], 1 / 0.8)
    assert abs(out.mean() - 1.0) < 0.02
    upstream = rng.normal(size=a.shape)
    np.testing.assert_array_equal(dropout_backward(upstream, mask), upstream * mask)


def test_dropout_masks_come_from_the_given_generator():
    a = np.ones((4, 6))
    first = dropout_forward(a, 0.5, np.random.default_rng(7))[0]
    second = dropout_forward(a, 0.5, np.random.default_rng(7))[0]
    np.testing.assert_array_equal(first, second)


def test_keep_prob_one_is_the_identity_and_draws_nothing():
    rng = np.random.default_rng(3)
    a = np.arange(6.0).reshape(2, 3)
    out, mask = dropout_forward(a, 1.0, rng)
    assert out is a and mask is None
    assert rng.random() == np.random.default_rng(3).random()


def test_sigmoid_cross_entropy_value_and_gradient(rng):
    logits = rng.normal(size=(7, 1))
    targets = targets_from_labels(rng.integers(0, 2, size=7), 2)
    p = 1 / (1 + np.exp(-logits))
    loss, dlogits = sigmoid_cross_entropy(logits, targets)
    assert loss == pytest.approx(float(-np.mean(targets * np.log(p) + (1 - targets) * np.log(1 - p))))
    numeric = numerical_gradient(lambda: sigmoid_cross_entropy(logits, targets)[0], logits)
    assert_gradient_close(numeric, dlogits)


def test_softmax_cross_entropy_value_and_gradient(rng):
    logits = rng.normal(size=(6, 4))
    labels = rng.integers(0, 4, size=6)
    targets = targets_from_labels(labels, 4)
    loss, dlogits = softmax_cross_entropy(logits, targets)
    expected = -np.mean(np.log(softmax(logits)[np.arange(6), labels]))
    assert loss == pytest.approx(float(expected))
    numeric = numerical_gradient(lambda: softmax_cross_entropy(logits, targets)[0], logits)
    assert_gradient_close(numeric, dlogits)


def test_losses_are_finite_for_huge_logits():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        binary, dbinary = sigmoid_cross_entropy(np.array([[800.0], [-800.0]]), np.array([[0.0], [1.0]]))
        multi, dmulti = softmax_cross_entropy(np.array([[1000.0, -1000.0, 0.0]]), np.array([[0.0, 1.0, 0.0]]))
    assert binary == pytest.approx(800.0)
    assert multi == pytest.approx(2000.0)
    assert np.isfinite(dbinary).all() and np.isfinite(dmulti).all()


def test_gradient_only_mode_gives_the_same_gradient(rng):
    logits = rng.normal(size=(5, 3))
    targets = targets_from_labels(np.array([0, 2, 1, 1, 0]), 3)
    loss, dlogits = softmax_cross_entropy(logits, targets, with_loss=False)
    assert loss is None
    np.testing.assert_allclose(dlogits, softmax_cross_entropy(logits, targets)[1])


def test_targets_from_labels():
    np.testing.assert_array_equal(targets_from_labels(np.array([1, 0]), 2), [[1.0], [0.0]])
    np.testing.assert_array_equal(targets_from_labels(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])


def test_reused_input_gets_the_sum_of_both_gradients(rng):
    """h = relu(x @ W + b) + x feeds x to two places; dx must add both paths."""
    x = rng.normal(size=(5, 3))
    W, b = rng.normal(size=(3, 3)), rng.normal(size=3)
    W_out, b_out = rng.normal(size=(3, 4)), rng.normal(size=4)
    targets = targets_from_labels(rng.integers(0, 4, size=5), 4)

    def forward():
        z, affine_cache = affine_forward(x, W, b)
        a, relu_cache = relu_forward(z)
        h = a + x
        logits, out_cache = affine_forward(h, W_out, b_out)
        return logits, (affine_cache, relu_cache, out_cache)

    logits, (affine_cache, relu_cache, out_cache) = forward()
    _, dlogits = softmax_cross_entropy(logits, targets)
    dh, _, _ = affine_backward(dlogits, out_cache)
    dz = relu_backward(dh, relu_cache)
    dx_through_layer, dW, _ = affine_backward(dz, affine_cache)
    dx = dx_through_layer + dh

    loss = lambda: softmax_cross_entropy(forward()[0], targets)[0]
    numeric = numerical_gradient(loss, x)
    assert_gradient_close(numeric, dx)
    assert_gradient_close(numerical_gradient(loss, W), dW)
    # Keeping only one of the two paths is the classic overwrite bug: it must be visible.
    assert relative_difference(numeric, dx_through_layer) > 1e-2
    assert relative_difference(numeric, dh) > 1e-2


# --- the network assembled from these layers ------------------------------------

@pytest.mark.parametrize(("init", "expected_std"), [("he", np.sqrt(2 / 200)), ("xavier", np.sqrt(1 / 200)),
                                                    ("random", 0.3), ("zeros", 0.0)])
def test_initializations_have_the_course_scales(init, expected_std):
    network = Network(200, [HiddenLayer(300)], 2, init, 0.3, np.random.default_rng(0))
    weights = network.param_views["W1"]
    assert weights.std() == pytest.approx(expected_std, rel=0.02)
    assert not network.param_views["b1"].any()


def test_batch_norm_layers_start_at_the_identity():
    network = Network(3, [HiddenLayer(4, "relu", 1.0, True)], 2, "he", 0.01, np.random.default_rng(0))
    np.testing.assert_array_equal(network.param_views["gamma1"], np.ones(4))
    np.testing.assert_array_equal(network.param_views["beta1"], np.zeros(4))
    assert "b1" not in network.param_views
    np.testing.assert_array_equal(network.running_vars[0], np.ones(4))


def test_parameter_views_share_the_flat_vectors():
    network = Network(3, [HiddenLayer(4)], 3, "he", 0.01, np.random.default_rng(0))
    network.parameters[:] = 2.0
    assert (network.param_views["W1"] == 2.0).all() and (network.param_views["b2"] == 2.0).all()
    network.grad_views["W2"][...] = 5.0
    assert network.gradients[network.slices["W2"]].sum() == 5.0 * 4 * 3


def test_state_round_trip_restores_parameters_and_running_averages():
    rng = np.random.default_rng(0)
    network = Network(3, [HiddenLayer(4, "tanh", 1.0, True)], 2, "he", 0.01, rng)
    saved = network.state()
    X = rng.normal(size=(10, 3))
    network.compute_gradients(X, targets_from_labels(rng.integers(0, 2, 10), 2), rng)
    network.parameters -= 0.1 * network.gradients
    assert not np.array_equal(network.running_means[0], saved[1][0])
    network.load_state(saved)
    np.testing.assert_array_equal(network.parameters, saved[0])
    np.testing.assert_array_equal(network.running_means[0], saved[1][0])
    np.testing.assert_array_equal(network.running_vars[0], saved[2][0])


def test_evaluation_has_no_dropout_and_reports_loss_cost_and_accuracy():
    rng = np.random.default_rng(5)
    network = Network(2, [HiddenLayer(16, "relu", 0.5)], 2, "he", 0.01, rng)
    network.l2 = 3.0
    X, y = rng.normal(size=(40, 2)), rng.integers(0, 2, 40)
    first, second = network.evaluate(X, y), network.evaluate(X, y)
    assert first == second
    probabilities = network.probabilities(X)
    assert first.accuracy == np.mean((probabilities > 0.5) == y) == np.mean(network.predict(X) == y)
    assert first.cost == pytest.approx(first.loss + network.penalty(40))
    assert first.cost > first.loss


@pytest.mark.parametrize("n_classes", [2, 4])
def test_the_loss_alone_is_the_loss_its_gradient_comes_with(rng, n_classes):
    logits = rng.normal(size=(30, 1 if n_classes == 2 else n_classes)) * 5
    targets = targets_from_labels(rng.integers(0, n_classes, 30), n_classes)
    full, alone = ((sigmoid_cross_entropy, sigmoid_cross_entropy_loss) if n_classes == 2
                   else (softmax_cross_entropy, softmax_cross_entropy_loss))
    assert alone(logits, targets) == full(logits, targets)[0]


@pytest.mark.parametrize("n_classes", [2, 3])
def test_sets_side_by_side_evaluate_as_each_does_alone(n_classes):
    rng = np.random.default_rng(8)
    hidden = [HiddenLayer(12, "relu", 0.5, batch_norm=True), HiddenLayer(5, "tanh")]
    network = Network(2, hidden, n_classes, "he", 0.01, rng)
    network.l2, network.l1 = 0.7, 0.2
    X, y = rng.normal(size=(64, 2)), rng.integers(0, n_classes, 64)
    for _ in range(3):  # running averages that are not the initial ones
        network.compute_gradients(X[:32], targets_from_labels(y[:32], n_classes), rng)
        network.parameters -= 0.05 * network.gradients
    spans = [(0, 40), (40, 41), (41, 64)]
    together = network.evaluate_spans(X, y, spans)
    for (start, stop), evaluation in zip(spans, together, strict=True):
        alone = network.evaluate(X[start:stop], y[start:stop])
        assert evaluation.accuracy == alone.accuracy
        assert evaluation.loss == pytest.approx(alone.loss, rel=1e-13)
        # Each set's cost carries the penalty with its own m.
        assert evaluation.cost == pytest.approx(alone.cost, rel=1e-13)
        assert evaluation.cost - evaluation.loss == pytest.approx(network.penalty(stop - start), rel=1e-12)


def test_diverged_parameters_evaluate_to_nan_not_to_an_exception():
    network = Network(2, [HiddenLayer(3)], 3, "he", 0.01, np.random.default_rng(0))
    network.parameters[0] = np.inf
    result = network.evaluate(np.ones((4, 2)), np.array([0, 1, 2, 0]))
    assert np.isnan(result.loss) and np.isnan(result.accuracy)
