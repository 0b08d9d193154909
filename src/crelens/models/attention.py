"""Seed baselines trained from scratch on one-hot DNA: one self-attention block at nucleotide resolution.

Why: these are the from-scratch comparison for the adapter heads on the frozen Caduceus encoder
(and for Malinois, a CNN), trained on the same data. They are deliberately small (one block,
d_model 64) because training runs on a 2-core CPU.

Every model takes one-hot `x` of shape (B, 4, L) (channels A, C, G, T; N = all-zero column) and
returns raw outputs (B, n_outputs): regression values or class logits.

- `AttentionModel`: Conv1d(4 → d, kernel) + ReLU + learned positional embedding (one token per
  nucleotide, no downsampling, so attention position i is nucleotide i) → one pre-LayerNorm
  block (multi-head self-attention, then a feed-forward, each with a residual) → LayerNorm →
  pool (mean over positions concatenated with attention pooling) → Linear.
- `SparseAttentionModel`: the same embedding; a learned scorer keeps only the top-k positions
  and the block runs among them (k × k attention), the cost of attention falls from L² to k².
- `JointModel`: the `AttentionModel` trunk shared by several tasks, a learned per-task vector
  added to every token (so the shared block is conditioned on the task), one head per task.

With `return_attention=True` (and in `position_importance`) attention is computed explicitly,
softmax(QKᵀ/√d_head)·V, and its weights are returned; otherwise (training, plain prediction) the
same function runs fused via `F.scaled_dot_product_attention`, which is much faster on CPU at
L = 600 (see `SelfAttention`). Attention weights are never dropped out (dropout acts after the
attention projection, in the feed-forward and before the head), so returned weights are exactly
the ones applied.

Measured cost, fwd+bwd per sequence at L = 600 (n_outputs 3, train mode, MSE loss, no optimiser
step; batch 64, `torch.set_num_threads(2)`, torch 2.13 CPU build on the 2-vCPU dev VM; 2 warm-up
steps then 7 timed steps, min–median over two runs on a quiet machine — the VM is shared, so
numbers under load were 2–3× higher):
    AttentionModel                         6.5–8.8 ms/seq   (explicit-softmax path: 12–16 ms/seq)
    SparseAttentionModel keep_share 0.05   0.4–0.5 ms/seq
    SparseAttentionModel keep_share 0.10   0.5–0.7 ms/seq
    SparseAttentionModel keep_share 0.20   0.9–1.0 ms/seq
    JointModel (one task per call)         6.2–7.3 ms/seq
Forward FLOPs per sequence (`crelens.models.flops.count_flops`, n_outputs 3): AttentionModel
155.8 M (92.2 M of it the 600 × 600 attention), SparseAttentionModel 7.9 / 11.5 / 20.2 M at
keep_share 0.05 / 0.10 / 0.20. Trainable parameters: AttentionModel 92,867; SparseAttentionModel
92,932 (+ the scorer); JointModel 92,480 shared + per task 64 (task vector) + 129·n_outputs (head).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ALPHABET = 4  # one-hot channels A, C, G, T
FFN_MULT = 4  # feed-forward width = FFN_MULT · d_model


def _check_onehot(x: torch.Tensor, length: int) -> None:
    if x.ndim != 3 or x.shape[1] != ALPHABET or x.shape[2] != length:
        raise ValueError(f"expected one-hot input (B, {ALPHABET}, {length}), got {tuple(x.shape)}")


def _check_sizes(length: int, d_model: int, n_heads: int, kernel: int) -> None:
    if length < 1 or d_model < 1 or n_heads < 1 or kernel < 1:
        raise ValueError(
            f"length, d_model, n_heads and kernel must be positive, got "
            f"length={length}, d_model={d_model}, n_heads={n_heads}, kernel={kernel}"
        )
    if d_model % n_heads:
        raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")


class Embedding(nn.Module):
    """(B, 4, L) one-hot → (B, L, d) tokens: Conv1d(same padding) + ReLU + learned positions.

    The convolution is the motif detector; the positional embedding lets the same motif count
    differently at different offsets (mean pooling alone would be position-blind).
    """

    def __init__(self, length: int, d_model: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv1d(ALPHABET, d_model, kernel, padding="same")
        self.position = nn.Parameter(torch.randn(length, d_model) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x)).transpose(1, 2) + self.position


class SelfAttention(nn.Module):
    """Multi-head self-attention, softmax(QKᵀ/√d_head)·V.

    With `need_weights` the softmax is computed explicitly and its weights (B, H, T, T) are
    returned. Without, the same function goes through `F.scaled_dot_product_attention` (fused,
    never materialises the T × T weights): at T = 600 and batch 64 the explicit weights are 92 M
    floats per tensor, and allocating, filling and back-propagating through several of them made
    training about 2× slower on the CPU, more under memory pressure (the fused path agrees to float
    rounding, see the tests).
    """

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, h: torch.Tensor, need_weights: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        b, t, d = h.shape
        q, k, v = self.qkv(h).view(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        if need_weights:
            attn = torch.softmax((q * (q.shape[-1] ** -0.5)) @ k.transpose(-2, -1), dim=-1)
            out = attn @ v
        else:
            attn, out = None, F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, t, d)), attn


class Block(nn.Module):
    """Pre-LayerNorm transformer block: h + attn(LN h), then h + FFN(LN h)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, n_heads)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(
            nn.Linear(d_model, FFN_MULT * d_model),
            nn.ReLU(),
            nn.Linear(FFN_MULT * d_model, d_model),
            nn.Dropout(dropout),
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, need_weights: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        a, attn = self.attn(self.norm1(h), need_weights)
        h = h + self.drop(a)
        return h + self.ffn(self.norm2(h)), attn


class TokenPool(nn.Module):
    """(B, T, d) → (B, 2d): [mean over tokens, softmax(score)-weighted sum over tokens].

    The mean sees every token equally; the attention pool can concentrate on a few (e.g. one
    strong motif in a long, mostly neutral window), which the mean would dilute.
    """

    def __init__(self, d_model: int):
        super().__init__()
        # No bias: it would shift every token's logit by the same amount, which the softmax
        # cancels, so its gradient is zero analytically (a dead parameter).
        self.score = nn.Linear(d_model, 1, bias=False)
        self.out_features = 2 * d_model

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        w = torch.softmax(self.score(h), dim=1)  # (B, T, 1)
        return torch.cat([h.mean(1), (w * h).sum(1)], dim=-1)


def _received(attn: torch.Tensor) -> torch.Tensor:
    """Attention received per key position, averaged over heads and queries: (B, H, T, T) → (B, T)."""
    return attn.mean(dim=(1, 2))


class AttentionModel(nn.Module):
    """Conv embedding → one self-attention block over all L nucleotides → pooled → Linear."""

    def __init__(
        self,
        n_outputs: int,
        length: int = 600,
        d_model: int = 64,
        n_heads: int = 4,
        kernel: int = 15,
        dropout: float = 0.1,
    ):
        super().__init__()
        if n_outputs < 1:
            raise ValueError(f"n_outputs must be positive, got {n_outputs}")
        _check_sizes(length, d_model, n_heads, kernel)
        self.n_outputs, self.length = n_outputs, length
        self.embed = Embedding(length, d_model, kernel)
        self.block = Block(d_model, n_heads, dropout)
        self.norm = nn.LayerNorm(d_model)
        self.pool = TokenPool(d_model)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(self.pool.out_features, n_outputs)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        """(B, n_outputs), or (out, attn) with attn (B, heads, L, L) when `return_attention`."""
        _check_onehot(x, self.length)
        h, attn = self.block(self.embed(x), return_attention)
        out = self.out(self.drop(self.pool(self.norm(h))))
        return (out, attn) if return_attention else out

    @torch.no_grad()
    def position_importance(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L): attention each nucleotide receives, averaged over heads and queries (sums to 1)."""
        return _received(self.forward(x, return_attention=True)[1])


class SparseAttentionModel(nn.Module):
    """Conv embedding → keep the top-k scored positions → self-attention among them → pooled → Linear.

    k = max(1, round(keep_share · length)). The scorer is Linear(d → 1) on the embedded tokens.
    Hard top-k has no gradient, so kept tokens are scaled by sigmoid(score): a kept token's
    contribution depends on its score, which trains the scorer (raising the score of useful
    positions also makes them more likely to be kept). Ties are broken towards the lower
    position (stable sort), and kept positions are put back in sequence order, so the result
    is deterministic.
    """

    def __init__(
        self,
        n_outputs: int,
        keep_share: float,
        length: int = 600,
        d_model: int = 64,
        n_heads: int = 4,
        kernel: int = 15,
        dropout: float = 0.1,
    ):
        super().__init__()
        if n_outputs < 1:
            raise ValueError(f"n_outputs must be positive, got {n_outputs}")
        if not 0.0 < keep_share <= 1.0:
            raise ValueError(f"keep_share must be in (0, 1], got {keep_share}")
        _check_sizes(length, d_model, n_heads, kernel)
        self.n_outputs, self.length, self.keep_share = n_outputs, length, keep_share
        self.k = keep_count(keep_share, length)
        self.embed = Embedding(length, d_model, kernel)
        self.scorer = nn.Linear(d_model, 1)
        self.block = Block(d_model, n_heads, dropout)
        self.norm = nn.LayerNorm(d_model)
        self.pool = TokenPool(d_model)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(self.pool.out_features, n_outputs)

    def select(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Kept positions (B, k), ascending, and the kept tokens scaled by sigmoid(score) (B, k, d)."""
        score = self.scorer(tokens).squeeze(-1)  # (B, L)
        order = torch.sort(score.detach(), dim=1, descending=True, stable=True).indices
        kept = order[:, : self.k].sort(dim=1).values
        gate = torch.sigmoid(score.gather(1, kept)).unsqueeze(-1)
        picked = tokens.gather(1, kept.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
        return kept, picked * gate

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        """(B, n_outputs), or (out, kept, attn) with kept (B, k) positions and attn (B, heads, k, k)."""
        _check_onehot(x, self.length)
        kept, tokens = self.select(self.embed(x))
        h, attn = self.block(tokens, return_attention)
        out = self.out(self.drop(self.pool(self.norm(h))))
        return (out, kept, attn) if return_attention else out

    @torch.no_grad()
    def position_importance(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L): attention each kept position receives (mean over heads and queries); 0 elsewhere."""
        _, kept, attn = self.forward(x, return_attention=True)
        importance = torch.zeros(x.shape[0], self.length, dtype=attn.dtype, device=attn.device)
        return importance.scatter(1, kept, _received(attn))


class JointModel(nn.Module):
    """One `AttentionModel` trunk shared by tasks, a learned per-task token vector, a head per task.

    The task vector is added to every token before the attention block, so the shared block can
    behave differently per task (e.g. MPRA activity vs enhancer/promoter classification) while
    sharing motif detectors. `parameter_groups` gives the trunk a smaller learning rate than the
    task-specific parts (differential learning rates), so one task's gradients move the shared
    weights less abruptly.
    """

    def __init__(
        self,
        task_outputs: dict[str, int],
        length: int = 600,
        d_model: int = 64,
        n_heads: int = 4,
        kernel: int = 15,
        dropout: float = 0.1,
    ):
        super().__init__()
        if not task_outputs:
            raise ValueError("task_outputs must name at least one task")
        for task, n in task_outputs.items():
            if n < 1:
                raise ValueError(f"n_outputs of task {task!r} must be positive, got {n}")
        _check_sizes(length, d_model, n_heads, kernel)
        self.n_outputs, self.length = dict(task_outputs), length
        self.embed = Embedding(length, d_model, kernel)
        self.block = Block(d_model, n_heads, dropout)
        self.norm = nn.LayerNorm(d_model)
        self.pool = TokenPool(d_model)
        self.drop = nn.Dropout(dropout)
        self.task_embeddings = nn.ParameterDict({t: nn.Parameter(torch.randn(d_model) * 0.02) for t in task_outputs})
        self.heads = nn.ModuleDict({t: nn.Linear(self.pool.out_features, n) for t, n in task_outputs.items()})

    @property
    def tasks(self) -> list[str]:
        return list(self.n_outputs)

    def forward(self, x: torch.Tensor, task: str, return_attention: bool = False):
        """(B, n_outputs[task]), or (out, attn) with attn (B, heads, L, L) when `return_attention`."""
        if task not in self.n_outputs:
            raise ValueError(f"unknown task {task!r}; expected one of {self.tasks}")
        _check_onehot(x, self.length)
        h, attn = self.block(self.embed(x) + self.task_embeddings[task], return_attention)
        out = self.heads[task](self.drop(self.pool(self.norm(h))))
        return (out, attn) if return_attention else out

    @torch.no_grad()
    def position_importance(self, x: torch.Tensor, task: str) -> torch.Tensor:
        """(B, L): attention each nucleotide receives for `task`, averaged over heads and queries."""
        return _received(self.forward(x, task, return_attention=True)[1])

    def task_parameters(self) -> list[nn.Parameter]:
        """Task embeddings and heads: everything that belongs to one task only."""
        return list(self.task_embeddings.parameters()) + list(self.heads.parameters())

    def trunk_parameters(self) -> list[nn.Parameter]:
        """Every parameter shared by all tasks (embedding, block, norm, pooling)."""
        task_ids = {id(p) for p in self.task_parameters()}
        return [p for p in self.parameters() if id(p) not in task_ids]

    def parameter_groups(self, lr: float, trunk_lr_scale: float) -> list[dict]:
        """AdamW param groups: trunk at lr · trunk_lr_scale, task embeddings and heads at lr."""
        return [
            {"name": "trunk", "params": self.trunk_parameters(), "lr": lr * trunk_lr_scale},
            {"name": "task", "params": self.task_parameters(), "lr": lr},
        ]

    def for_task(self, task: str) -> TaskView:
        return TaskView(self, task)


class TaskView(nn.Module):
    """A `JointModel` seen as a single-task model: forward(x) = joint(x, task).

    Shares the joint model's parameters (no copy), so single-task evaluation code can use it
    like any other model.
    """

    def __init__(self, joint: JointModel, task: str):
        super().__init__()
        if task not in joint.n_outputs:
            raise ValueError(f"unknown task {task!r}; expected one of {joint.tasks}")
        self.joint, self.task = joint, task
        self.n_outputs, self.length = joint.n_outputs[task], joint.length

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        return self.joint(x, self.task, return_attention=return_attention)

    def position_importance(self, x: torch.Tensor) -> torch.Tensor:
        return self.joint.position_importance(x, self.task)

    def extra_repr(self) -> str:
        return f"task={self.task!r}"


def keep_count(keep_share: float, length: int) -> int:
    """Positions a `SparseAttentionModel` keeps: max(1, round(keep_share · length))."""
    return max(1, min(length, round(keep_share * length)))
