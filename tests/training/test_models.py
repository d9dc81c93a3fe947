"""lrtune.training.models: every model builds for its datasets' shapes and learns from one step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lrtune.training.data import DATASETS
from lrtune.training.models import MODELS, build_model, default_model

# the per-example shape each dataset loads with (lrtune.training.data)
SHAPES = {
    "mnist1d": (40,),
    "digits": (1, 8, 8),
    "mnist": (1, 28, 28),
    "fashion-mnist": (1, 28, 28),
    "kmnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
}

# model -> the input shapes it must take
COMBINATIONS = {
    "mlp": [(40,), (1, 8, 8), (1, 28, 28), (3, 32, 32)],
    "cnn1d": [(40,), (2, 40), (7,)],
    "cnn": [(1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 20, 36)],
    "resnet": [(3, 32, 32), (1, 28, 28), (1, 8, 8)],
}


def _one_step(model: torch.nn.Module, input_shape: tuple[int, ...], n_classes: int) -> None:
    """Forward a batch, take one SGD step; the loss is finite and every parameter moved."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(8, *input_shape, generator=generator)
    y = torch.randint(0, n_classes, (8,), generator=generator)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    logits = model(x)
    assert logits.shape == (8, n_classes)
    loss = F.cross_entropy(logits, y)
    assert torch.isfinite(loss)
    loss.backward()
    optimizer.step()
    for old, new in zip(before, model.parameters()):
        assert not torch.equal(old, new)


@pytest.mark.parametrize(
    ("name", "input_shape"),
    [(name, shape) for name, shapes in COMBINATIONS.items() for shape in shapes],
)
def test_model_builds_and_trains_one_step(name: str, input_shape: tuple[int, ...]) -> None:
    model = build_model(name, input_shape=input_shape, n_classes=10, seed=0)
    _one_step(model, input_shape, 10)


@pytest.mark.parametrize("dataset", DATASETS)
def test_default_model_fits_its_dataset(dataset: str) -> None:
    name = default_model(dataset)
    assert name in MODELS
    model = build_model(name, input_shape=SHAPES[dataset], n_classes=10, seed=1)
    _one_step(model, SHAPES[dataset], 10)


def test_default_models() -> None:
    assert default_model("mnist1d") == "cnn1d"
    assert default_model("digits") == "mlp"
    assert default_model("cifar10") == "resnet"


def test_n_classes_sets_the_head() -> None:
    model = build_model("cnn1d", input_shape=(40,), n_classes=3, seed=0)
    _one_step(model, (40,), 3)


def test_seed_makes_the_initialisation_reproducible() -> None:
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    a = build_model("resnet", input_shape=(3, 32, 32), n_classes=10, seed=5)
    b = build_model("resnet", input_shape=(3, 32, 32), n_classes=10, seed=5)
    c = build_model("resnet", input_shape=(3, 32, 32), n_classes=10, seed=6)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is untouched
    pairs = list(zip(a.parameters(), b.parameters(), c.parameters()))
    assert all(torch.equal(pa, pb) for pa, pb, _ in pairs)
    assert not all(torch.equal(pa, pc) for pa, _, pc in pairs)


def test_without_a_seed_the_global_rng_is_used() -> None:
    torch.manual_seed(0)
    a = build_model("mlp", input_shape=(4,), n_classes=2)
    torch.manual_seed(0)
    b = build_model("mlp", input_shape=(4,), n_classes=2)
    assert all(torch.equal(pa, pb) for pa, pb in zip(a.parameters(), b.parameters()))


def test_models_are_small() -> None:
    for name, shapes in COMBINATIONS.items():
        model = build_model(name, input_shape=shapes[0], n_classes=10)
        assert sum(p.numel() for p in model.parameters()) < 1_000_000, name


def test_unknown_model_lists_the_valid_names() -> None:
    with pytest.raises(ValueError, match="model must be one of mlp, cnn1d, cnn, resnet"):
        build_model("vit", input_shape=(40,), n_classes=10)


def test_unknown_dataset_has_no_default_model() -> None:
    with pytest.raises(ValueError, match="dataset must be one of mnist1d"):
        default_model("imagenet")


@pytest.mark.parametrize(
    ("name", "input_shape", "message"),
    [
        ("cnn", (40,), r"model 'cnn' needs input_shape \(C, H, W\), but got \(40,\)"),
        ("resnet", (1, 28), r"model 'resnet' needs input_shape \(C, H, W\)"),
        ("cnn1d", (3, 32, 32), r"model 'cnn1d' needs input_shape \(L,\) or \(C, L\)"),
        ("cnn1d", (3,), r"sequence length >= 4"),
        ("cnn", (1, 3, 28), r"at least 4x4"),
        ("mlp", (), r"input_shape must be non-empty"),
        ("mlp", (0, 4), r"input_shape must be non-empty and positive"),
    ],
)
def test_shapes_a_model_cannot_take(name: str, input_shape: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_model(name, input_shape=input_shape, n_classes=10)


@pytest.mark.parametrize("n_classes", [1, 0, 2.0])
def test_n_classes_must_be_at_least_two(n_classes) -> None:
    with pytest.raises(ValueError, match="n_classes must be an int >= 2"):
        build_model("mlp", input_shape=(4,), n_classes=n_classes)
