"""Seed attention baselines: shapes, attention weights, top-k selection, the joint model's task
conditioning and learning-rate groups."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from crelens.models.attention import AttentionModel, JointModel, SparseAttentionModel, TaskView, keep_count
from crelens.parameters import count_parameters

SHORT = 40
SMALL = {"d_model": 16, "n_heads": 2, "kernel": 5}  # fast config for the short-length tests


def onehot(batch=3, length=600, seed=0):
    ids = torch.randint(0, 4, (batch, length), generator=torch.Generator().manual_seed(seed))
    x = F.one_hot(ids, 4).float().transpose(1, 2).contiguous()
    x[0, :, :5] = 0.0  # a few N columns
    return x


def make(kind, n_outputs=3, length=600, keep_share=0.1, **kw):
    torch.manual_seed(0)
    if kind == "dense":
        return AttentionModel(n_outputs, length=length, **kw)
    if kind == "sparse":
        return SparseAttentionModel(n_outputs, keep_share, length=length, **kw)
    return JointModel({"activity": n_outputs, "class": 2}, length=length, **kw).for_task("activity")


KINDS = ["dense", "sparse", "joint"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("length,kw", [(600, {}), (SHORT, SMALL)])
def test_output_shape_and_attributes(kind, length, kw):
    model = make(kind, length=length, **kw)
    assert model.n_outputs == 3 and model.length == length
    assert model(onehot(length=length)).shape == (3, 3)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(2, 4, SHORT + 1), (2, 5, SHORT), (4, SHORT)])
def test_wrong_input_shape_names_expected_and_got(kind, shape):
    model = make(kind, length=SHORT, **SMALL)
    expected = re.escape(f"(B, 4, {SHORT})") + ".*" + re.escape(str(tuple(shape)))
    with pytest.raises(ValueError, match=expected):
        model(torch.zeros(shape))


@pytest.mark.parametrize("kind", ["dense", "joint"])
def test_dense_attention_shape_rows_and_importance(kind):
    model = make(kind).eval()
    x = onehot()
    out, attn = model(x, return_attention=True)
    assert out.shape == (3, 3) and attn.shape == (3, 4, 600, 600)
    assert torch.all(attn >= 0)
    torch.testing.assert_close(attn.sum(-1), torch.ones(3, 4, 600))
    importance = model.position_importance(x)
    assert importance.shape == (3, 600)
    torch.testing.assert_close(importance, attn.mean(dim=(1, 2)))
    torch.testing.assert_close(importance.sum(-1), torch.ones(3))


@pytest.mark.parametrize("kind", KINDS)
def test_fused_and_explicit_attention_agree(kind):
    """Training uses fused attention; returned weights come from the explicit path: same function."""
    model = make(kind).eval()
    x = onehot()
    torch.testing.assert_close(model(x), model(x, return_attention=True)[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("keep_share,k", [(0.05, 30), (0.10, 60), (0.20, 120)])
def test_sparse_keeps_exactly_k_positions(keep_share, k):
    assert keep_count(keep_share, 600) == k
    model = make("sparse", keep_share=keep_share).eval()
    assert model.k == k
    x = onehot()
    out, kept, attn = model(x, return_attention=True)
    assert out.shape == (3, 3) and kept.shape == (3, k) and attn.shape == (3, 4, k, k)
    for row in kept:
        assert len(set(row.tolist())) == k
        assert torch.all(row[1:] > row[:-1]), "kept positions are in sequence order"
        assert 0 <= row.min() and row.max() < 600
    torch.testing.assert_close(attn.sum(-1), torch.ones(3, 4, k))

    importance = model.position_importance(x)
    assert importance.shape == (3, 600)
    outside = torch.ones(3, 600, dtype=torch.bool).scatter(1, kept, False)
    assert torch.all(importance[outside] == 0)
    torch.testing.assert_close(importance.gather(1, kept), attn.mean(dim=(1, 2)))
    torch.testing.assert_close(importance.sum(-1), torch.ones(3))


def test_sparse_keeps_the_top_scored_positions():
    model = make("sparse").eval()
    x = onehot()
    with torch.no_grad():
        scores = model.scorer(model.embed(x)).squeeze(-1)
        _, kept, _ = model(x, return_attention=True)
    threshold = scores.gather(1, kept).min(1, keepdim=True).values
    dropped = torch.ones_like(scores, dtype=torch.bool).scatter(1, kept, False)
    assert torch.all(scores[dropped].view(3, -1) <= threshold)


def test_sparse_ties_break_towards_lower_positions():
    model = make("sparse", keep_share=0.05).eval()
    with torch.no_grad():
        model.scorer.weight.zero_()  # every position scores the same
    _, kept, _ = model(onehot(), return_attention=True)
    assert torch.equal(kept, torch.arange(30).expand(3, 30))


def test_keep_count_edges_and_validation():
    assert keep_count(0.001, 600) == 1
    assert keep_count(1.0, 600) == 600
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="keep_share"):
            SparseAttentionModel(2, bad, length=SHORT)


def test_gradients_reach_the_sparse_scorer():
    model = make("sparse", length=SHORT, **SMALL)
    model(onehot(length=SHORT)).pow(2).sum().backward()
    assert model.scorer.weight.grad is not None
    assert model.scorer.weight.grad.abs().sum() > 0 and model.scorer.bias.grad.abs() > 0
    for name, p in model.named_parameters():
        assert p.grad is not None, name


def test_a_task_view_of_the_joint_model_leaves_the_other_task_without_gradient():
    """Round-off-free: the other task's parameters are not in the graph at all (grad None). That
    every parameter gets a real gradient is checked in float64 in tests/faults/test_library_defects.py."""
    model = make("joint", length=SHORT, **SMALL)
    model(onehot(length=SHORT)).pow(2).sum().backward()
    for name, p in model.named_parameters():
        other_task = "task_embeddings.class" in name or "heads.class" in name
        assert (p.grad is None) == other_task, name


def test_position_matters_through_the_positional_embedding():
    """Mean pooling alone would be blind to shifting a motif; the positional embedding is not."""
    model = make("dense", length=SHORT, **SMALL).eval()
    x = torch.zeros(1, 4, SHORT)
    x[0, 0, 5:10] = 1.0
    shifted = torch.roll(x, 20, dims=2)
    assert not torch.allclose(model(x), model(shifted))


def test_eval_is_deterministic():
    model = make("sparse").eval()
    x = onehot()
    torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)


# ---------------------------------------------------------------------------------------------
# JointModel


def joint(length=SHORT, **kw):
    torch.manual_seed(0)
    return JointModel({"activity": 3, "class": 3, "other": 2}, length=length, **(kw or SMALL))


def test_joint_shapes_per_task_and_unknown_task():
    model = joint()
    x = onehot(length=SHORT)
    assert model.n_outputs == {"activity": 3, "class": 3, "other": 2}
    assert model(x, "activity").shape == (3, 3) and model(x, "other").shape == (3, 2)
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        model(x, "nope")
    with pytest.raises(ValueError, match="unknown task"):
        model.for_task("nope")


def test_joint_parameter_groups_cover_every_parameter_once():
    model = joint()
    groups = model.parameter_groups(lr=1e-3, trunk_lr_scale=0.1)
    seen = [id(p) for g in groups for p in g["params"]]
    assert len(seen) == len(set(seen))
    assert set(seen) == {id(p) for p in model.parameters()}
    lr = {g["name"]: g["lr"] for g in groups}
    assert lr == pytest.approx({"trunk": 1e-4, "task": 1e-3})
    task_ids = {id(p) for g in groups if g["name"] == "task" for p in g["params"]}
    for name, p in model.named_parameters():
        is_task = name.startswith(("task_embeddings.", "heads."))
        assert (id(p) in task_ids) == is_task, name
    optimizer = torch.optim.AdamW(groups)  # accepted as is
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([1e-4, 1e-3])


def test_joint_differential_learning_rates_move_the_trunk_less():
    model = joint()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.AdamW(model.parameter_groups(lr=1e-2, trunk_lr_scale=0.01), weight_decay=0.0)
    model(onehot(length=SHORT), "activity").pow(2).sum().backward()
    optimizer.step()
    # Adam's first step moves every parameter with a gradient by about lr
    trunk_step = (model.embed.conv.weight - before["embed.conv.weight"]).abs().max().item()
    task_step = (model.task_embeddings["activity"] - before["task_embeddings.activity"]).abs().max().item()
    assert trunk_step == pytest.approx(1e-4, rel=0.05) and task_step == pytest.approx(1e-2, rel=0.05)


def test_joint_task_embeddings_condition_the_shared_trunk():
    model = joint().eval()
    emb = model.task_embeddings
    assert not torch.allclose(emb["activity"], emb["class"])
    # identical heads: any difference between the two tasks comes from the task embedding
    model.heads["class"].load_state_dict(model.heads["activity"].state_dict())
    x = onehot(length=SHORT)
    assert not torch.allclose(model(x, "activity"), model(x, "class"))
    _, attn_a = model(x, "activity", return_attention=True)
    _, attn_c = model(x, "class", return_attention=True)
    assert not torch.allclose(attn_a, attn_c)
    with torch.no_grad():
        emb["class"].copy_(emb["activity"])
    torch.testing.assert_close(model(x, "activity"), model(x, "class"))


def test_task_view_is_the_joint_model_for_one_task():
    model = joint().eval()
    view = model.for_task("other")
    assert isinstance(view, TaskView)
    assert view.n_outputs == 2 and view.length == SHORT
    x = onehot(length=SHORT)
    torch.testing.assert_close(view(x), model(x, "other"))
    torch.testing.assert_close(view.position_importance(x), model.position_importance(x, "other"))
    out, attn = view(x, return_attention=True)
    assert out.shape == (3, 2) and attn.shape == (3, 2, SHORT, SHORT)
    # shares parameters, no copy
    assert {id(p) for p in view.parameters()} == {id(p) for p in model.parameters()}
    with pytest.raises(ValueError, match=rf"\(B, 4, {SHORT}\)"):
        view(torch.zeros(1, 4, SHORT + 2))


def test_constructor_validation():
    with pytest.raises(ValueError, match="divisible"):
        AttentionModel(2, length=SHORT, d_model=10, n_heads=4)
    with pytest.raises(ValueError, match="n_outputs"):
        AttentionModel(0, length=SHORT)
    with pytest.raises(ValueError, match="at least one task"):
        JointModel({}, length=SHORT)
    with pytest.raises(ValueError, match="'x'"):
        JointModel({"x": 0}, length=SHORT)


def test_count_parameters_matches_a_hand_count():
    length, d, kernel, n = 8, 4, 3, 2
    model = AttentionModel(n, length=length, d_model=d, n_heads=2, kernel=kernel)
    hand = (
        (4 * d * kernel + d)  # conv
        + length * d  # positional embedding
        + 2 * d  # norm1
        + (d * 3 * d + 3 * d)  # qkv
        + (d * d + d)  # attention output projection
        + 2 * d  # norm2
        + (d * 4 * d + 4 * d)
        + (4 * d * d + d)  # feed-forward
        + 2 * d  # final norm
        + d  # attention-pool scorer (no bias: the softmax would cancel it)
        + (2 * d * n + n)  # output
    )
    assert hand == 358
    assert count_parameters(model, trainable=True) == hand
    sparse = SparseAttentionModel(n, 0.5, length=length, d_model=d, n_heads=2, kernel=kernel)
    assert count_parameters(sparse, trainable=True) == hand + d + 1  # plus the position scorer
    joint = JointModel({"a": n, "b": 3}, length=length, d_model=d, n_heads=2, kernel=kernel)
    assert count_parameters(joint, trainable=True) == hand + 2 * d + (2 * d * 3 + 3)  # task vectors, second head


def test_default_models_are_small():
    assert 80_000 < count_parameters(AttentionModel(3), trainable=True) < 1_000_000
    assert 80_000 < count_parameters(SparseAttentionModel(3, 0.1), trainable=True) < 1_000_000


def test_the_attention_pool_has_no_dead_bias():
    """A bias on the pooling score shifts every token's logit equally; the softmax cancels it, so
    its gradient is zero analytically. The pool has none, and a shift of the scores changes nothing."""
    from crelens.models.attention import TokenPool

    pool = TokenPool(8)
    assert pool.score.bias is None
    h = torch.randn(2, 5, 8)
    base = pool(h)
    shifted = torch.softmax(pool.score(h) + 3.0, dim=1)
    torch.testing.assert_close(torch.cat([h.mean(1), (shifted * h).sum(1)], -1), base)
