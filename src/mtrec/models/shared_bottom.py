"""Shared-bottom multi-task recommender over id and language-model text embeddings.

Caruana, "Multitask Learning", Machine Learning 28 (1997): tasks share the bottom layers and
keep one tower each. User and item representations are built once by shared bottoms from an id
embedding plus a projection of the frozen text embedding; each task tower reads the pair through
a NeuMF-style interaction (He et al., "Neural Collaborative Filtering", WWW 2017): a generalised
matrix-factorisation term on ``u * v`` plus an MLP over ``[u * v, u, v]``.

Ids with no training interaction contribute a zero id embedding, so an unseen item is scored
from its text alone instead of from an untrained random row. With ``item_id_dropout`` the item
id is hidden for a share of training rows (Volkovs et al., "DropoutNet", NeurIPS 2017), so the
towers also learn to score an item from its text alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

TASKS = ("watch", "like", "rating")


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild the network before loading its weights."""

    n_users: int
    n_items: int
    user_text_dim: int
    item_text_dim: int
    embedding_dim: int = 64
    hidden_dims: tuple[int, ...] = (128, 64)
    tower_dims: tuple[int, ...] = (32,)
    dropout: float = 0.1
    use_text: bool = True
    tasks: tuple[str, ...] = TASKS
    rating_mean: float = 3.5
    item_id_dropout: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


def _mlp(sizes: list[int], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


class _Bottom(nn.Module):
    """Id embedding + projected text embedding -> shared representation."""

    def __init__(self, n: int, text_dim: int, spec: ModelSpec, id_dropout: float = 0.0):
        super().__init__()
        self.use_text = spec.use_text
        self.id_dropout = id_dropout
        self.ids = nn.Embedding(n, spec.embedding_dim)
        nn.init.normal_(self.ids.weight, std=0.05)
        self.text_proj = nn.Linear(text_dim, spec.embedding_dim)
        dims = [2 * spec.embedding_dim, *spec.hidden_dims]
        self.mlp = _mlp(dims, spec.dropout)
        self.out_dim = dims[-1]

    def forward(self, idx: Tensor, text: Tensor, seen: Tensor) -> Tensor:
        keep = seen[idx]  # (B,); zero for never-trained ids
        if self.training and self.id_dropout > 0 and self.use_text:
            # DropoutNet-style: hide the id of some training rows so the towers learn to score
            # from text alone, which is all an unseen item has.
            keep = keep * (torch.rand_like(keep) >= self.id_dropout).to(keep.dtype)
        ids = self.ids(idx) * keep.unsqueeze(-1)  # (B, E)
        words = self.text_proj(text[idx]) if self.use_text else torch.zeros_like(ids)  # (B, E)
        return self.mlp(torch.cat([ids, words], dim=-1))  # (B, H)


class _Tower(nn.Module):
    """One task head over a (user, item) pair; the first layer is split so that scoring every
    item for a batch of users never materialises the (B, I, 3H) concatenation."""

    def __init__(self, dim: int, tower_dims: tuple[int, ...], dropout: float):
        super().__init__()
        hidden = tower_dims[0] if tower_dims else dim
        self.gmf = nn.Linear(dim, 1)
        self.w_product = nn.Linear(dim, hidden)
        self.w_user = nn.Linear(dim, hidden, bias=False)
        self.w_item = nn.Linear(dim, hidden, bias=False)
        self.rest = _mlp(list(tower_dims) or [hidden], dropout)
        self.out = nn.Linear(tower_dims[-1] if tower_dims else hidden, 1)
        self.dropout = nn.Dropout(dropout)

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


class SharedBottomRecommender(nn.Module):
    """Multi-task model with the project's interface: ``forward(batch) -> {task: logits}``.

    ``batch`` holds ``user`` and ``item`` index tensors of shape (B,). ``watch`` and ``like``
    outputs are logits; ``rating`` is the predicted rating itself.
    """

    def __init__(
        self,
        spec: ModelSpec,
        user_text: Tensor,
        item_text: Tensor,
        user_seen: Tensor | None = None,
        item_seen: Tensor | None = None,
    ):
        super().__init__()
        self.spec = spec
        self.register_buffer("user_text", user_text.float())  # (U, Du)
        self.register_buffer("item_text", item_text.float())  # (I, Di)
        ones_u, ones_i = torch.ones(spec.n_users), torch.ones(spec.n_items)
        self.register_buffer("user_seen", ones_u if user_seen is None else user_seen.float())
        self.register_buffer("item_seen", ones_i if item_seen is None else item_seen.float())
        self.user_bottom = _Bottom(spec.n_users, spec.user_text_dim, spec)
        self.item_bottom = _Bottom(spec.n_items, spec.item_text_dim, spec, spec.item_id_dropout)
        dim = self.user_bottom.out_dim
        self.towers = nn.ModuleDict(
            {task: _Tower(dim, spec.tower_dims, spec.dropout) for task in spec.tasks}
        )

    def users(self, idx: Tensor) -> Tensor:
        return self.user_bottom(idx, self.user_text, self.user_seen)  # (B, H)

    def items(self, idx: Tensor) -> Tensor:
        return self.item_bottom(idx, self.item_text, self.item_seen)  # (B, H)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        u, v = self.users(batch["user"]), self.items(batch["item"])
        out = {task: tower.pair(u, v) for task, tower in self.towers.items()}
        if "rating" in out:
            out["rating"] = out["rating"] + self.spec.rating_mean
        return out

    def score_items(self, users: Tensor, task: str = "watch") -> Tensor:
        """Scores of every catalogue item for each user: (B,) -> (B, I)."""
        u = self.users(users)
        v = self.items(torch.arange(self.spec.n_items, device=users.device))
        return self.towers[task].grid(u, v)
