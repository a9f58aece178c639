"""The network each ``ModelSpec.architecture`` names: :func:`build_network`."""

from __future__ import annotations

from torch import Tensor

from mtrec.models.base import MultiTaskRecommender
from mtrec.models.mmoe import MMoERecommender
from mtrec.models.ple import PLERecommender
from mtrec.models.shared_bottom import SharedBottomRecommender
from mtrec.models.spec import ModelSpec

ARCHITECTURES: dict[str, type[MultiTaskRecommender]] = {
    "shared_bottom": SharedBottomRecommender,
    "mmoe": MMoERecommender,
    "ple": PLERecommender,
}


def build_network(
    spec: ModelSpec,
    user_text: Tensor,
    item_text: Tensor,
    user_seen: Tensor | None = None,
    item_seen: Tensor | None = None,
    friends: Tensor | None = None,
    item_topic: Tensor | None = None,
) -> MultiTaskRecommender:
    """The network ``spec.architecture`` names, with the given text buffers, id weights,
    social links and item topics."""
    network = ARCHITECTURES[spec.architecture]
    return network(spec, user_text, item_text, user_seen, item_seen, friends, item_topic)
