"""What rebuilds a network before its weights are loaded: :class:`ModelSpec`."""

from __future__ import annotations

from dataclasses import dataclass, field

from mtrec.config import ModelConfig

TASKS = ("watch", "like", "rating")
HISTORY_POOLINGS = ("attention", "mean")
HISTORY_CONTEXTS = ("before", "others")
# One source of defaults: a spec built without a config describes the default configuration.
_CONFIG = ModelConfig()


@dataclass(frozen=True)
class ItemItemChoice:
    """The parameters chosen on valid: what a refit reuses on more data."""

    l2: float
    text_weight: float
    text_power: int
    weight: float
    """The item-item side's share of the blended ranking scores; 0 leaves the network's."""
    network_weight: float = 0.0
    """The weight of the network's own item vectors' similarity kernel in the Gram matrix
    (the ranking task's item representations, of the network the component is fitted
    beside); 0: none."""
    network_power: int = 2
    """The power that kernel raises the vectors' cosine similarity to."""


@dataclass(frozen=True)
class InterestBlend:
    """How an interest task's forecast reads the ranking task, chosen on valid (what a refit
    reuses): ``softmax(head * interest logits + ranking * log r)``, with ``r`` the topic shares
    of the items the ranking task expects next, ``softmax(scores / temperature)`` over the
    items the user has not interacted with, summed by topic."""

    head: float = 1.0
    ranking: float = 0.0
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.head < 0 or self.ranking < 0:
            raise ValueError(f"blend weights must be >= 0, got {self.head}, {self.ranking}")
        if self.temperature <= 0:
            raise ValueError(f"the blend's temperature must be > 0, got {self.temperature}")


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a network before loading its weights."""

    n_users: int
    n_items: int
    user_text_dim: int
    item_text_dim: int
    embedding_dim: int = _CONFIG.embedding_dim
    hidden_dims: tuple[int, ...] = _CONFIG.hidden_dims
    tower_dims: tuple[int, ...] = _CONFIG.tower_dims
    dropout: float = _CONFIG.dropout
    use_text: bool = _CONFIG.use_text
    tasks: tuple[str, ...] = TASKS
    ranking_task: str = "watch"
    """The task whose scores order the catalogue (``score_items``)."""
    ranking_interaction: str = _CONFIG.ranking_interaction
    """The ranking task's head: ``neumf`` (:class:`PairTower`) or ``dot`` (:class:`DotTower`)."""
    offsets: dict[str, float] = field(default_factory=dict)
    """Added to a regression head's output: its training label mean, so heads start centred."""
    user_tasks: tuple[str, ...] = ()
    """Tasks with a user-level head (one value per user, e.g. ``influence``)."""
    interest_tasks: tuple[str, ...] = ()
    """User-level tasks whose head is a distribution over ``n_topics`` item topics (logits
    out, softmax for shares): the user's next-period topic shares."""
    n_topics: int = 0
    """Item topics of the interest heads (the ``item_topic`` buffer maps items to them)."""
    link_tasks: tuple[str, ...] = ()
    """User-user link-prediction tasks (``friendship``): a pair tower over two users."""
    n_friend_links: int = 0
    """Directed user-user links of the social input; 0 means no social input."""
    item_id_dropout: float = _CONFIG.item_id_dropout
    architecture: str = _CONFIG.architecture
    n_experts: int = _CONFIG.n_experts
    """MMoE: experts shared by all tasks; PLE: shared experts per level."""
    n_task_experts: int = _CONFIG.n_task_experts
    """PLE: experts owned by each task, per level."""
    levels: int = _CONFIG.levels
    """PLE: extraction levels (1 is CGC)."""
    history_length: int = _CONFIG.history_length
    """How many of the user's most recent interactions the user side reads (0: none)."""
    history_pooling: str = _CONFIG.history_pooling
    """How the history is pooled into one vector: ``attention`` or ``mean``."""
    profile_length: int = _CONFIG.profile_length
    """How many of the user's newest interactions the long-term profile input averages
    (0: none); it reads the same interactions as the history window, only more of them."""
    history_context: str = "before"
    """What a training row's history is: the user's interactions ``before`` it, or all the
    user's ``others`` (see :meth:`MultiTaskRecommender.history_window`)."""
    funnels: dict[str, str] = field(default_factory=dict)
    """Funnel task -> the task it is conditioned on (ESMM): the funnel task's head gives the
    logit of p(task | after) and its output is the logit of p(after) * p(task | after)
    (:func:`funnel_logit`)."""
    item_item_weight: float = 0.0
    """The closed-form item-item component's share of the ranking task's catalogue scores
    (:mod:`mtrec.models.item_item`; its ``item_item`` buffer is (I, I)); 0: none."""
    item_item_l2: float = 0.0
    """The component's EASE ridge strength, as chosen on valid (what a refit reuses)."""
    item_item_text_weight: float = 0.0
    """The weight of the item texts' similarity kernel in its Gram matrix."""
    item_item_text_power: int = 4
    """The power the kernel raises the texts' cosine similarity to."""
    item_item_network_weight: float = 0.0
    """The weight of the network's item vectors' similarity kernel in its Gram matrix."""
    item_item_network_power: int = 2
    """The power that kernel raises their cosine similarity to."""
    interest_head_weight: float = 1.0
    """The interest forecast's weight of its head's logits (:class:`InterestBlend`)."""
    interest_ranking_weight: float = 0.0
    """Its weight of the log topic shares the ranking task expects next; 0: the head alone."""
    interest_ranking_temperature: float = 1.0
    """The temperature of the ranking task's softmax over the catalogue in that blend."""

    @property
    def interest_blend(self) -> InterestBlend:
        """How the interest forecast reads the ranking task (the head alone by default)."""
        return InterestBlend(
            self.interest_head_weight,
            self.interest_ranking_weight,
            self.interest_ranking_temperature,
        )

    @property
    def item_item(self) -> ItemItemChoice | None:
        """The component's chosen parameters; ``None`` without one."""
        if self.item_item_weight <= 0:
            return None
        return ItemItemChoice(
            l2=self.item_item_l2,
            text_weight=self.item_item_text_weight,
            text_power=self.item_item_text_power,
            weight=self.item_item_weight,
            network_weight=self.item_item_network_weight,
            network_power=self.item_item_network_power,
        )

    def __post_init__(self) -> None:
        named = {self.ranking_task, *self.offsets, *self.user_tasks, *self.link_tasks}
        named |= {*self.funnels, *self.funnels.values()}
        pair_level = set(self.tasks) - {*self.user_tasks, *self.link_tasks}
        if not {*self.funnels, *self.funnels.values()} <= pair_level:
            raise ValueError("funnel tasks and the tasks they follow must be (user, item) tasks")
        if not set(self.interest_tasks) <= set(self.user_tasks):
            raise ValueError("interest tasks must be user-level tasks")
        if self.interest_tasks and self.n_topics < 1:
            raise ValueError("interest tasks need n_topics >= 1")
        unknown = named - set(self.tasks)
        if unknown:
            raise ValueError(f"spec names tasks it does not have: {sorted(unknown)}")
        if self.ranking_interaction not in ("neumf", "dot"):
            raise ValueError(f"unknown ranking_interaction {self.ranking_interaction!r}")
        if self.ranking_task in self.user_tasks:
            raise ValueError(f"the ranking task {self.ranking_task!r} cannot be user-level")
        if self.history_pooling not in HISTORY_POOLINGS:
            raise ValueError(f"unknown history_pooling {self.history_pooling!r}")
        if not 0.0 <= self.item_item_weight <= 1.0:
            raise ValueError(f"item_item_weight must lie in [0, 1], got {self.item_item_weight}")
        if self.item_item_weight > 0 and self.item_item_l2 <= 0:
            raise ValueError("an item-item component needs item_item_l2 > 0")
        if self.history_context not in HISTORY_CONTEXTS:
            raise ValueError(f"unknown history_context {self.history_context!r}")
        _ = self.interest_blend  # validates the blend's fields
