"""The building blocks every architecture shares: inputs (id and text), the history pooling,
the task towers, a fast CPU dropout and the ESMM funnel composition."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mtrec.models.spec import ModelSpec


def funnel_logit(after: Tensor, conditional: Tensor) -> Tensor:
    """The logit of ``sigmoid(after) * sigmoid(conditional)``, in log space so that neither
    factor underflows: log p = log s(a) + log s(c), and 1 - p = s(-a) + s(a) s(-c), so
    log(1 - p) = logaddexp(log s(-a), log s(a) + log s(-c)). BCE with logits on it is BCE on
    the product probability, what ESMM learns (Ma et al., SIGIR 2018)."""
    log_after, log_cond = F.logsigmoid(after), F.logsigmoid(conditional)
    log_p = log_after + log_cond
    log_not_p = torch.logaddexp(F.logsigmoid(-after), log_after + F.logsigmoid(-conditional))
    return log_p - log_not_p


class Dropout(nn.Module):
    """``nn.Dropout`` whose CPU mask costs a tenth as much: one random byte per element from
    64-bit draws, kept when it is at least ``round(p * 256)``, so the drop rate is ``p`` rounded
    to a multiple of 1/256 (0.3 -> 0.3008) and survivors are scaled by the inverse of the keep
    rate actually used. Why: ``torch.bernoulli_`` draws one Mersenne-twister number per element
    on one core; it was 30% of a default training step here (45% with the mask arithmetic).
    Other devices use ``F.dropout``, whose generators are fast there."""

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {p}")
        self.p = p
        self.threshold = min(round(p * 256), 255)  # at least one byte value survives

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, training=True)
        n = x.numel()
        words = torch.empty((n + 7) // 8, dtype=torch.int64).random_(-(2**63), 2**63 - 1)
        draws = words.view(torch.uint8)[:n].view(x.shape).to(x.dtype)  # uniform on 0..255
        # Integer draws: draw - (threshold - 1) is >= 1 when kept and <= 0 when dropped.
        keep = (draws - (self.threshold - 1)).clamp_(0.0, 1.0)
        return x * keep.mul_(256 / (256 - self.threshold))

    def extra_repr(self) -> str:
        return f"p={self.p}"


def mlp(sizes: list[int], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU(), Dropout(dropout)]
    return nn.Sequential(*layers)


class Inputs(nn.Module):
    """Id embedding and projected text embedding, concatenated: (B,) -> (B, 2E)."""

    def __init__(self, n: int, text_dim: int, spec: ModelSpec, id_dropout: float = 0.0):
        super().__init__()
        self.use_text = spec.use_text
        self.id_dropout = id_dropout
        self.ids = nn.Embedding(n, spec.embedding_dim)
        nn.init.normal_(self.ids.weight, std=0.05)
        self.text_proj = nn.Linear(text_dim, spec.embedding_dim)
        self.out_dim = 2 * spec.embedding_dim

    def forward(self, idx: Tensor, text: Tensor, seen: Tensor) -> Tensor:
        # index_select, not table[idx]: advanced indexing gathered 3,850 rows of a (50,000, 384)
        # text table in 0.8 ms, index_select in 0.12 ms
        keep = seen.index_select(0, idx)  # (B,) id weight; zero for never-trained ids
        if self.training and self.id_dropout > 0 and self.use_text:
            keep = keep * (torch.rand_like(keep) >= self.id_dropout).to(keep.dtype)
        ids = self.ids(idx) * keep.unsqueeze(-1)  # (B, E)
        words = (
            self.text_proj(text.index_select(0, idx)) if self.use_text else torch.zeros_like(ids)
        )  # (B, E)
        return torch.cat([ids, words], dim=-1)  # (B, 2E)

    def from_text(self, text: Tensor) -> Tensor:
        """Inputs of ids the model never trained, from their text embedding: (B, D) -> (B, 2E)."""
        words = self.text_proj(text)
        ids = torch.zeros_like(words)
        return torch.cat([ids, words if self.use_text else torch.zeros_like(words)], dim=-1)


ATTENTION_KEY_DIM = 32


class HistoryPooling(nn.Module):
    """The user's most recent items, pooled into one vector: (B, L, 2E) -> (B, 2E).

    Position 0 is the newest item. Each position adds a learned recency embedding; ``attention``
    weighs the items with a learned query (additive attention, Bahdanau et al. 2015, as in the
    user encoders of Wu et al., "NRMS", EMNLP 2019), so the pooling can favour recent items or
    items that say more about the user; ``mean`` averages them. The query does not depend on the
    candidate item (unlike DIN's target attention), so the user side stays one vector and
    ranking the catalogue stays one matrix product.
    """

    def __init__(self, dim: int, length: int, pooling: str):
        super().__init__()
        self.pooling = pooling
        # One row more than the length: a row of ``others`` skips its own position.
        self.recency = nn.Parameter(torch.zeros(length + 1, dim))
        # A narrow key: the (B, L, key) tanh layer is the attention's cost; 32 against the
        # input's 128 made an epoch faster at the same quality.
        self.key = nn.Linear(dim, ATTENTION_KEY_DIM)
        self.query = nn.Linear(ATTENTION_KEY_DIM, 1, bias=False)

    def forward(self, distinct: Tensor, inverse: Tensor, present: Tensor) -> Tensor:
        """``distinct`` (D, 2E): inputs of the distinct items in the histories; ``inverse``
        (B, L): each position's row of ``distinct``; ``present`` (B, L) bool: where an item is.

        Linear layers run on the D distinct items and the L recency rows, never on all B * L
        positions (a batch's histories repeat popular items), and the pooled value is
        ``W @ distinct + w @ recency`` with ``W`` the (B, D) weight of each distinct item in
        each row: gathering the (B, L, 2E) window and scattering its gradient back was most of
        a training step."""
        length = inverse.shape[1]
        recency = self.recency[:length]  # (L, 2E)
        flat = inverse.reshape(-1)
        if self.pooling == "mean":
            weights = present.to(distinct.dtype)
        else:
            keys = F.linear(distinct, self.key.weight).index_select(0, flat)
            keys = keys.view(*inverse.shape, -1) + self.key(recency)  # (B, L, 2E)
            logits = self.query(torch.tanh(keys)).squeeze(-1)  # (B, L)
            logits = logits.masked_fill(~present, -torch.inf)
            # A user with no history gets zeros, not the NaN of a softmax over nothing.
            weights = torch.softmax(logits, dim=-1).nan_to_num(0.0)  # (B, L)
        weights = weights / weights.sum(-1, keepdim=True).clamp(min=1e-9)
        # Each row a bag of its L items, summed with their weights, without the (B, L, 2E)
        # window: one fused kernel forward and backward.
        pooled = F.embedding_bag(inverse, distinct, mode="sum", per_sample_weights=weights)
        return pooled + weights @ recency  # (B, 2E)


class PairTower(nn.Module):
    """One task head over a (user, item) pair; the first layer is split so that scoring every
    item for a batch of users never materialises the (B, I, 3H) concatenation."""

    def __init__(self, dim: int, tower_dims: tuple[int, ...], dropout: float):
        super().__init__()
        hidden = tower_dims[0] if tower_dims else dim
        self.gmf = nn.Linear(dim, 1)
        self.w_product = nn.Linear(dim, hidden)
        self.w_user = nn.Linear(dim, hidden, bias=False)
        self.w_item = nn.Linear(dim, hidden, bias=False)
        self.rest = mlp(list(tower_dims) or [hidden], dropout)
        self.out = nn.Linear(tower_dims[-1] if tower_dims else hidden, 1)
        self.dropout = Dropout(dropout)

    def pair(self, u: Tensor, v: Tensor) -> Tensor:
        """Logits for aligned pairs: u, v (B, H) -> (B,)."""
        product = u * v  # (B, H)
        hidden = torch.relu(self.w_product(product) + self.w_user(u) + self.w_item(v))  # (B, T)
        deep = self.out(self.rest(self.dropout(hidden)))  # (B, 1)
        return (self.gmf(product) + deep).squeeze(-1)

    def grid(self, u: Tensor, v: Tensor) -> Tensor:
        """Logits for every user-item combination: u (B, H), v (I, H) -> (B, I)."""
        product = u.unsqueeze(1) * v.unsqueeze(0)  # (B, I, H)
        hidden = self.w_product(product) + self.w_user(u).unsqueeze(1)  # (B, I, T)
        hidden = torch.relu(hidden + self.w_item(v).unsqueeze(0))
        deep = self.out(self.rest(hidden))  # (B, I, 1)
        return (self.gmf(product) + deep).squeeze(-1)


class DotTower(nn.Module):
    """A factorised head: ``sum_h w_h u_h v_h + a.u + c.v + b``, the generalised matrix
    factorisation term of :class:`PairTower` with linear user and item terms and no MLP. The
    deep user and item side networks stay; what goes is the pair MLP, so ranking the catalogue
    for a batch of users is one (B, H) x (H, I) product instead of a (B, I, T) hidden layer
    (the two-tower recommenders of Covington et al., "Deep Neural Networks for YouTube
    Recommendations", RecSys 2016)."""

    def __init__(self, dim: int):
        super().__init__()
        self.gmf = nn.Linear(dim, 1)
        self.w_user = nn.Linear(dim, 1, bias=False)
        self.w_item = nn.Linear(dim, 1, bias=False)

    def pair(self, u: Tensor, v: Tensor) -> Tensor:
        """Logits for aligned pairs: u, v (B, H) -> (B,)."""
        return (self.gmf(u * v) + self.w_user(u) + self.w_item(v)).squeeze(-1)

    def grid(self, u: Tensor, v: Tensor) -> Tensor:
        """Logits for every user-item combination: u (B, H), v (I, H) -> (B, I)."""
        weighted = u * self.gmf.weight  # (B, H)
        return torch.addmm(self.gmf.bias + self.w_user(u), weighted, v.T) + self.w_item(v).T
