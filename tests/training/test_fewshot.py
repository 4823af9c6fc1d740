"""The paper's linear few-shot evaluation against sklearn's ridge and brute-force leave-one-out refits."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge, RidgeClassifier, RidgeClassifierCV

from vit_edu.training.cnn import SmallCNN
from vit_edu.training.fewshot import (
    DEFAULT_L2,
    fewshot_accuracy,
    leave_one_out_errors,
    representation,
    ridge_fit,
    ridge_predict,
    signed_targets,
)
from vit_edu.training.transfer import PRETRAIN_RECIPE


def clusters(n_per_class=8, num_classes=4, dim=12, spread=1.5, seed=0):
    """Gaussian clusters around fixed random class centres, offset from the origin (so the intercept matters)."""
    centres = 2.0 * torch.randn(num_classes, dim, generator=torch.Generator().manual_seed(99)) + 3.0
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(num_classes).repeat_interleave(n_per_class)
    features = centres[labels] + spread * torch.randn(len(labels), dim, generator=generator)
    return features, labels


def test_signed_targets_are_plus_one_at_the_class_and_minus_one_elsewhere():
    targets = signed_targets(torch.tensor([2, 0]), 3)
    assert targets.tolist() == [[-1, -1, 1], [1, -1, -1]]
    with pytest.raises(ValueError, match=r"0\.\.2"):
        signed_targets(torch.tensor([3]), 3)


@pytest.mark.parametrize("l2", [0.01, 1.0, 100.0])
def test_ridge_fit_equals_sklearn_ridge_classifier(l2):
    features, labels = clusters()
    test, _ = clusters(n_per_class=20, seed=1)
    fit = ridge_fit(features, labels, 4, (l2,))
    reference = RidgeClassifier(alpha=l2).fit(features.double().numpy(), labels.numpy())
    np.testing.assert_allclose(fit.weight[0].numpy(), reference.coef_.T, atol=1e-9)
    np.testing.assert_allclose(fit.bias[0].numpy(), reference.intercept_, atol=1e-9)
    assert np.array_equal(ridge_predict(fit, test).numpy(), reference.predict(test.double().numpy()))


def test_leave_one_out_shortcut_equals_refitting_without_each_image():
    features, labels = clusters(n_per_class=5, dim=20)  # n = 20 = D: the shortcut must not need n > D
    targets = signed_targets(labels, 4).numpy()
    x = features.double().numpy()
    lambdas = (0.1, 10.0)
    shortcut = leave_one_out_errors(features, labels, 4, lambdas).numpy()
    for value, fast in zip(lambdas, shortcut):
        errors = []
        for i in range(len(x)):
            keep = np.arange(len(x)) != i
            model = Ridge(alpha=value).fit(x[keep], targets[keep])
            errors.append(((model.predict(x[i:i + 1])[0] - targets[i]) ** 2).mean())
        assert fast == pytest.approx(np.mean(errors), rel=1e-9)


def test_lambda_is_chosen_like_sklearn_ridge_classifier_cv_and_never_from_the_test_set():
    for seed, spread in ((0, 1.0), (1, 4.0), (2, 8.0)):
        features, labels = clusters(n_per_class=6, spread=spread, seed=seed)
        test, test_labels = clusters(n_per_class=30, spread=spread, seed=seed + 10)
        result = fewshot_accuracy(features, labels, test, test_labels, 4)
        reference = RidgeClassifierCV(alphas=DEFAULT_L2).fit(features.double().numpy(), labels.numpy())
        assert result.l2 == pytest.approx(reference.alpha_)
        expected = (reference.predict(test.double().numpy()) == test_labels.numpy()).mean()
        assert result.accuracy == pytest.approx(expected)
        # the test labels only score the choice: shuffling them changes the accuracy, never lambda
        shuffled = fewshot_accuracy(features, labels, test, test_labels.flip(0), 4)
        assert shuffled.l2 == result.l2


def test_informative_features_beat_chance_and_noise_does_not():
    features, labels = clusters(n_per_class=5, spread=1.0)
    test, test_labels = clusters(n_per_class=50, spread=1.0, seed=3)
    noise = torch.randn(len(test), test.shape[1], generator=torch.Generator().manual_seed(4))
    assert fewshot_accuracy(features, labels, test, test_labels, 4).accuracy > 0.9
    train_noise = torch.randn_like(features)
    assert fewshot_accuracy(train_noise, labels, noise, test_labels, 4).accuracy < 0.45


def test_representation_is_what_the_head_reads():
    images = torch.rand(5, 3, 32, 32)
    vit = PRETRAIN_RECIPE.build_model(seed=0, dim=16, mlp_dim=32, depth=2, heads=2).eval()
    cnn = SmallCNN(channels=3, num_classes=12, width=8, depth=2, pool_every=1, seed=0).eval()
    for model in (vit, cnn):
        features = representation(model, images, batch_size=2)  # batched in 2 + 2 + 1
        torch.testing.assert_close(model.head(features), model(images), atol=1e-5, rtol=1e-5)
    cnn.train()
    representation(cnn, images)
    assert cnn.training  # put back in the mode it was in


def test_bad_inputs_name_the_parameter():
    features, labels = clusters()
    with pytest.raises(TypeError, match="features must be a 2-D float tensor"):
        ridge_fit(features[0], labels, 4)
    with pytest.raises(ValueError, match="one label per image"):
        ridge_fit(features, labels[:-1], 4)
    with pytest.raises(ValueError, match="positive lambdas"):
        ridge_fit(features, labels, 4, (0.0,))
    with pytest.raises(ValueError, match="at least 3"):
        leave_one_out_errors(features[:2], labels[:2], 4)
    with pytest.raises(ValueError, match="D = 5"):
        ridge_predict(ridge_fit(features, labels, 4), features[:, :5])
    with pytest.raises(TypeError, match=r"ViT .* or a CNN"):
        representation(torch.nn.Linear(3, 3), torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="4-D"):
        representation(SmallCNN(channels=3, width=4, depth=1), torch.rand(3, 8, 8))
