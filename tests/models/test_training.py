"""The head training loop: it learns, it is deterministic, it stops early, predict averages strands."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crelens.metrics import macro_auroc, pearson
from crelens.models.heads import build_head
from crelens.models.training import TrainResult, predict, train_model

BINS, DIM = 4, 16


def strands(canonical: np.ndarray) -> np.ndarray:
    """(n, bins, dim) → cached layout (n, 2, bins, dim) float16, RC = bin-reversed canonical."""
    return np.stack([canonical, canonical[:, ::-1]], axis=1).astype(np.float16)


def regression_data(n, seed, n_outputs=3, noise=0.05):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, BINS, DIM))
    w = np.random.default_rng(123).normal(size=(DIM, n_outputs))  # same function for every split
    y = x.mean(1) @ w + noise * rng.normal(size=(n, n_outputs))
    return strands(x), y.astype(np.float32)


def classification_data(n, seed, n_classes=3):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(7).normal(size=(n_classes, DIM)) * 2.0
    labels = rng.integers(0, n_classes, size=n)
    x = rng.normal(size=(n, BINS, DIM)) + centres[labels][:, None, :]
    return strands(x), labels


def head(kind="mean", n_outputs=3, seed=0):
    torch.manual_seed(seed)
    return build_head(kind, BINS, DIM, n_outputs)


def test_regression_learns_linear_function():
    xt, yt = regression_data(512, seed=1)
    xv, yv = regression_data(128, seed=2)
    lines = []
    model = head()
    result = train_model(model, xt, yt, xv, yv, task="regression", max_epochs=30, patience=5, log=lines.append)
    assert isinstance(result, TrainResult)
    assert result.best_metric > 0.9
    assert list(result.curve.columns) == ["epoch", "train_loss", "val_metric"]
    assert len(lines) >= len(result.curve) and "train_loss" in lines[0] and "val_" in lines[0]
    assert result.curve["train_loss"].iloc[-1] < result.curve["train_loss"].iloc[0]
    # the model is left holding the best epoch's weights
    pred = predict(model, xv, "regression")
    assert pred.shape == yv.shape
    assert np.mean([pearson(yv[:, j], pred[:, j]) for j in range(3)]) == pytest.approx(result.best_metric, abs=1e-6)


def test_classification_separable_clusters():
    xt, yt = classification_data(384, seed=1)
    xv, yv = classification_data(128, seed=2)
    model = head(n_outputs=3)
    result = train_model(model, xt, yt, xv, yv, task="classification", max_epochs=10, patience=3)
    assert result.best_metric > 0.95
    probs = predict(model, xv, "classification")
    assert probs.shape == (128, 3)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert macro_auroc(yv, probs) == pytest.approx(result.best_metric)


def test_classification_sample_weight_accepted_and_changes_training():
    xt, yt = classification_data(128, seed=1)
    xv, yv = classification_data(64, seed=2)
    kwargs = {"task": "classification", "max_epochs": 2, "patience": 5}
    plain = train_model(head(), xt, yt, xv, yv, **kwargs)
    weight = np.where(yt == 0, 5.0, 1.0)
    weighted = train_model(head(), xt, yt, xv, yv, sample_weight=weight, **kwargs)
    ones = train_model(head(), xt, yt, xv, yv, sample_weight=np.ones(len(yt)), **kwargs)
    key = "mlp.0.weight"
    assert not torch.equal(plain.best_state[key], weighted.best_state[key])
    torch.testing.assert_close(plain.best_state[key], ones.best_state[key])
    with pytest.raises(ValueError):
        train_model(head(), xt, yt, xv, yv, sample_weight=np.ones(3), **kwargs)


def test_same_seed_same_weights():
    xt, yt = regression_data(128, seed=1)
    xv, yv = regression_data(64, seed=2)
    kwargs = {"task": "regression", "max_epochs": 3, "patience": 5, "batch_size": 32, "seed": 5}
    # mlp1024: the dropout masks must be seeded too
    a = train_model(head("mlp1024"), xt, yt, xv, yv, **kwargs)
    b = train_model(head("mlp1024"), xt, yt, xv, yv, **kwargs)
    assert a.best_epoch == b.best_epoch and a.best_metric == b.best_metric
    assert a.best_state.keys() == b.best_state.keys()
    for key in a.best_state:
        assert torch.equal(a.best_state[key], b.best_state[key]), key
    c = train_model(head("mlp1024"), xt, yt, xv, yv, **{**kwargs, "seed": 6})
    assert not torch.equal(a.best_state["mlp.0.weight"], c.best_state["mlp.0.weight"])


def test_restores_global_state():
    xt, yt = regression_data(64, seed=1)
    model = head()
    before = torch.random.get_rng_state()
    deterministic = torch.are_deterministic_algorithms_enabled()
    train_model(model, xt, yt, xt, yt, task="regression", max_epochs=1)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.are_deterministic_algorithms_enabled() == deterministic


def test_early_stopping_on_noise_labels():
    xt, _ = regression_data(256, seed=1)
    xv, _ = regression_data(64, seed=2)
    rng = np.random.default_rng(0)
    yt, yv = rng.normal(size=(256, 3)), rng.normal(size=(64, 3))
    result = train_model(head("flatten"), xt, yt, xv, yv, task="regression", max_epochs=50, patience=2)
    last = int(result.curve["epoch"].iloc[-1])
    assert last < 50
    assert result.best_epoch < last
    assert last - result.best_epoch == 2  # stopped exactly `patience` epochs after the best
    assert result.best_metric == pytest.approx(result.curve["val_metric"].max())


def test_predict_averages_strands():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 2, BINS, DIM)).astype(np.float16)  # strands deliberately unrelated
    for task, kind in (("regression", "flatten"), ("classification", "flatten")):
        model = head(kind).eval()
        got = predict(model, x, task, batch_size=4)
        with torch.no_grad():
            canonical = model(torch.from_numpy(x[:, 0].astype(np.float32)))
            reverse = model(torch.from_numpy(x[:, 1].astype(np.float32)))
        if task == "classification":
            canonical, reverse = canonical.softmax(-1), reverse.softmax(-1)
        np.testing.assert_allclose(got, ((canonical + reverse) / 2).numpy(), rtol=1e-5, atol=1e-6)


def test_rejects_bad_inputs():
    xt, yt = regression_data(32, seed=1)
    with pytest.raises(ValueError):
        train_model(head(), xt[:, 0], yt, xt, yt, task="regression")
    with pytest.raises(ValueError):
        train_model(head(), xt, yt, xt, yt, task="ranking")
    with pytest.raises(ValueError):
        train_model(head(), xt, yt[:5], xt, yt, task="regression")


def test_memory_mapped_float16_features(tmp_path):
    xt, yt = regression_data(96, seed=1)
    np.save(tmp_path / "x.npy", xt)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    a = train_model(head(), mapped, yt, mapped, yt, task="regression", max_epochs=2, batch_size=32)
    b = train_model(head(), xt, yt, xt, yt, task="regression", max_epochs=2, batch_size=32)
    for key in a.best_state:
        assert torch.equal(a.best_state[key], b.best_state[key])
    np.testing.assert_array_equal(predict(head(), mapped, "regression"), predict(head(), xt, "regression"))


class Recorder(torch.nn.Module):
    """Wraps a head and records every training-mode input batch (to see which strand it got)."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.seen = inner, []

    def forward(self, x):
        if self.training:
            self.seen.append(x.detach().clone())
        return self.inner(x)


class CountingAdamW(torch.optim.AdamW):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.steps = 0

    def step(self, closure=None):
        self.steps += 1
        return super().step(closure)


def marked_strands(n, seed):
    """Features whose first feature column says the strand: 0 canonical, 1 reverse complement."""
    x, y = regression_data(n, seed)
    x[:, 0, :, 0], x[:, 1, :, 0] = 0, 1
    return x, y


def test_both_strands_protocol_takes_two_steps_per_batch():
    xt, yt = marked_strands(50, seed=1)
    model = Recorder(head())
    made = []
    train_model(
        model,
        xt,
        yt,
        xt,
        yt,
        task="regression",
        max_epochs=1,
        batch_size=16,
        optimizer=lambda m: made.append(CountingAdamW(m.parameters(), lr=1e-3)) or made[-1],
    )
    # 50 rows in batches of 16: 16, 16, 16, 2 (a trailing batch of 2 is kept; only 1 is merged)
    batches = 4
    assert made[0].steps == 2 * batches
    strands = [float(x[:, :, 0].unique().item()) for x in model.seen]
    assert strands == [0.0, 1.0] * batches  # canonical step, then reverse-complement step
    for canonical, reverse in zip(model.seen[::2], model.seen[1::2]):
        assert canonical.shape == reverse.shape  # the same rows (same labels) on both strands


def test_random_strands_protocol_takes_one_step_with_mixed_strands():
    xt, yt = marked_strands(256, seed=1)
    model = Recorder(head())
    made = []
    train_model(
        model,
        xt,
        yt,
        xt,
        yt,
        task="regression",
        strands="random",
        max_epochs=1,
        batch_size=64,
        optimizer=lambda m: made.append(CountingAdamW(m.parameters(), lr=1e-3)) or made[-1],
    )
    assert made[0].steps == 4
    marks = torch.cat([x[:, 0, 0] for x in model.seen])
    assert len(marks) == 256
    assert 0.3 < float(marks.mean()) < 0.7  # about half of the rows on each strand


def test_single_trailing_row_joins_previous_batch():
    xt, yt = regression_data(33, seed=1)
    model = Recorder(head())
    train_model(model, xt, yt, xt, yt, task="regression", max_epochs=1, batch_size=16)
    assert [len(x) for x in model.seen] == [16, 16, 17, 17]


def test_l1_kl_mixed_loss_trains():
    xt, yt = regression_data(256, seed=1)
    xv, yv = regression_data(64, seed=2)
    result = train_model(head(), xt, yt, xv, yv, task="regression", loss="l1_kl_mixed", max_epochs=15, patience=5)
    assert result.best_metric > 0.8
    with pytest.raises(ValueError, match="unknown loss"):
        train_model(head(), xt, yt, xv, yv, task="regression", loss="hinge")


def test_joint_training_interleaves_tasks_and_learns_both():
    from crelens.models.training import TaskData, train_tasks

    class TwoHeads(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.reg, self.cls = build_head("mean", BINS, DIM, 3), build_head("mean", BINS, DIM, 3)

    model = TwoHeads()
    xr, yr = regression_data(256, seed=1)
    xc, yc = classification_data(128, seed=1)
    tasks = [
        TaskData(model.reg, xr, yr, *regression_data(64, seed=2), task="regression"),
        TaskData(model.cls, xc, yc, *classification_data(64, seed=2), task="classification"),
    ]
    result = train_tasks(model, tasks, max_epochs=10, patience=3, batch_size=32)
    assert {"val_0", "val_1"} <= set(result.curve.columns)
    best = result.curve.set_index("epoch").loc[result.best_epoch]
    assert best["val_metric"] == pytest.approx((best["val_0"] + best["val_1"]) / 2)
    assert best["val_0"] > 0.8 and best["val_1"] > 0.9


def test_cosine_schedule_warms_up_then_decays_to_a_tenth():
    from crelens.models.training import WARMUP_SHARE, lr_factor

    total = 200
    factors = [lr_factor(step, total, "cosine") for step in range(total)]
    warmup = int(round(WARMUP_SHARE * total))
    assert factors[0] == pytest.approx(1 / warmup) and factors[warmup - 1] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[warmup:], factors[warmup + 1 :]))  # monotone decay
    assert factors[-1] == pytest.approx(0.1, abs=1e-3)
    assert {lr_factor(step, total, "constant") for step in range(total)} == {1.0}


def test_the_schedule_sets_every_param_groups_rate_at_each_step():
    from crelens.models.training import train_model

    seen = []

    class Recording(torch.optim.SGD):
        def step(self, closure=None):
            seen.append([group["lr"] for group in self.param_groups])
            return super().step(closure)

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 1))
    x = np.random.default_rng(0).normal(size=(40, 2, 2, 4)).astype(np.float32)
    y = x[:, 0].sum(axis=(1, 2))[:, None]
    train_model(
        model,
        x,
        y,
        x[:10],
        y[:10],
        task="regression",
        optimizer=lambda m: Recording(m.parameters(), lr=0.5),
        batch_size=10,
        max_epochs=3,
        patience=3,
        schedule="cosine",
        log=lambda line: None,
    )
    rates = [r[0] for r in seen]
    assert len(rates) == 3 * 4 * 2  # epochs x batches x strands
    assert max(rates) == pytest.approx(0.5) and rates[-1] < 0.1
    with pytest.raises(ValueError, match="schedule"):
        train_model(model, x, y, x, y, task="regression", schedule="linear")


def test_constant_schedule_keeps_the_rate_and_augmentation_sees_training_batches_only():
    from crelens.models.training import train_model

    seen, augmented = [], []

    class Recording(torch.optim.SGD):
        def step(self, closure=None):
            seen.append(self.param_groups[0]["lr"])
            return super().step(closure)

    def augment(batch, generator):
        augmented.append(batch.shape[0])
        return batch * 0  # training sees nothing; validation must still see the data

    torch.manual_seed(0)
    model = Recorder(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 1)))
    x = np.random.default_rng(0).normal(size=(40, 2, 2, 4)).astype(np.float32)
    y = x[:, 0].sum(axis=(1, 2))[:, None]
    train_model(
        model,
        x,
        y,
        x[:10],
        y[:10],
        task="regression",
        optimizer=lambda m: Recording(m.parameters(), lr=0.5),
        batch_size=10,
        max_epochs=2,
        patience=2,
        augment=augment,
        log=lambda line: None,
    )
    assert seen == [0.5] * (2 * 4 * 2)  # epochs x batches x strands, never scheduled
    assert augmented == [10] * (2 * 4 * 2)
    assert len(model.seen) == len(augmented) and not any(batch.any() for batch in model.seen)
    model.eval()
    assert (
        torch.from_numpy(x[:10, 0]).any() and model(torch.from_numpy(x[:10, 0])).std() > 0
    )  # validation rows untouched


def test_a_non_finite_loss_stops_training_and_names_the_batch():
    """An inf target (or a diverged model) must not train an all-NaN model that later passes as
    trained: the loop stops at the first non-finite loss, naming the epoch, step and rows."""
    xt, yt = regression_data(64, seed=1)
    xv, yv = regression_data(16, seed=2)
    yt[5, 0] = np.inf
    with pytest.raises(
        FloatingPointError, match=r"non-finite training loss .* epoch 1, step \d+; batch rows \[.*\b5\b"
    ):
        train_model(head(), xt, yt, xv, yv, task="regression", max_epochs=2, patience=2, batch_size=64)
