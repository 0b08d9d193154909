"""Distillation into sparse students: warm start, the saliency-fitted scorer, the teacher's targets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crelens.models.attention import AttentionModel, SparseAttentionModel
from crelens.models.distill import fit_scorer, saliency, teacher_outputs, warm_start
from crelens.sequences import one_hot_strands

OPTIONS = {"d_model": 16, "n_heads": 2, "kernel": 5, "dropout": 0.0}
LENGTH = 30


def pair(keep_share=0.2, seed=0):
    torch.manual_seed(seed)
    teacher = AttentionModel(2, length=LENGTH, **OPTIONS).eval()
    student = SparseAttentionModel(2, keep_share, length=LENGTH, **OPTIONS).eval()
    return teacher, student


def one_hot(n, seed=0):
    rng = np.random.default_rng(seed)
    return one_hot_strands(["".join(rng.choice(list("ACGT"), LENGTH)) for _ in range(n)]).astype(np.float32)


def test_warm_start_copies_everything_but_the_scorer():
    teacher, student = pair()
    scorer = student.scorer.weight.detach().clone()
    warm_start(student, teacher)
    for name, value in teacher.state_dict().items():
        assert torch.equal(student.state_dict()[name], value), name
    assert torch.equal(student.scorer.weight, scorer)


def test_a_student_keeping_every_position_with_open_gates_is_the_teacher():
    teacher, student = pair(keep_share=1.0)
    warm_start(student, teacher)
    with torch.no_grad():
        student.scorer.weight.zero_()
        student.scorer.bias.fill_(60.0)  # sigmoid(60) == 1 in float32
    x = torch.from_numpy(one_hot(4)[:, 0])
    with torch.no_grad():
        torch.testing.assert_close(student(x), teacher(x))


def test_warm_start_refuses_a_different_architecture():
    teacher, _ = pair()
    other = SparseAttentionModel(2, 0.2, length=LENGTH, d_model=8, n_heads=2, kernel=5, dropout=0.0)
    with pytest.raises(RuntimeError, match="size mismatch"):
        warm_start(other, teacher)


def test_scorer_ranks_positions_by_the_teachers_saliency():
    teacher, student = pair()
    warm_start(student, teacher)
    r2 = fit_scorer(student, teacher, one_hot(64, seed=1))
    assert 0 < r2 <= 1
    x = torch.from_numpy(one_hot(16, seed=2)[:, 0])  # held-out sequences
    tokens, target = saliency(teacher, x)
    with torch.no_grad():
        score = student.scorer(tokens).squeeze(-1)
    ranks = [
        np.corrcoef(np.argsort(np.argsort(s)), np.argsort(np.argsort(t)))[0, 1]
        for s, t in zip(score.numpy(), target.numpy())
    ]
    assert np.median(ranks) > 0.3
    # kept tokens pass their gate almost unchanged, as the copied block expects
    with torch.no_grad():
        _, kept = student.select(tokens)
    gates = torch.sigmoid(student.scorer(tokens).squeeze(-1)).gather(1, torch.topk(score, student.k).indices)
    assert gates.min() > 0.9 and kept.shape == (16, student.k, OPTIONS["d_model"])


def test_teacher_outputs_average_both_strands():
    teacher, _ = pair()
    x = one_hot(5)
    got = teacher_outputs(teacher, x)
    with torch.no_grad():
        t = torch.from_numpy(x)
        want = ((teacher(t[:, 0]) + teacher(t[:, 1])) / 2).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)
