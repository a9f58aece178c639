"""TextEncoder on a tiny random BERT: shapes, normalisation, order and batch invariance."""

from pathlib import Path

import numpy as np
import pytest

from mtrec.features.encoder import EncoderNotFoundError, TextEncoder

TEXTS = [
    "the star",
    "a night of love and war in the old city",
    "day",
    "the old year of the star city and a night of war",
    "comedy",
    "love",
    "action drama horror sci fi comedy",
    "the day and the night",
]


@pytest.fixture(scope="module")
def encoder(tiny_encoder_path: Path) -> TextEncoder:
    return TextEncoder(tiny_encoder_path, max_length=16, batch_size=3)


def test_shape_dtype_and_unit_norm(encoder: TextEncoder) -> None:
    vectors = encoder.encode(TEXTS)
    assert encoder.dim == 32
    assert vectors.shape == (len(TEXTS), 32)
    assert vectors.dtype == np.float32
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Different texts give different vectors.
    assert np.abs(vectors[0] - vectors[1]).max() > 1e-3


def test_input_order_is_preserved(encoder: TextEncoder) -> None:
    vectors = encoder.encode(TEXTS)
    permutation = np.random.default_rng(0).permutation(len(TEXTS))
    permuted = encoder.encode([TEXTS[i] for i in permutation])
    np.testing.assert_allclose(permuted, vectors[permutation], atol=1e-5)


def test_single_text_matches_batched(encoder: TextEncoder) -> None:
    vectors = encoder.encode(TEXTS)
    for i in (0, 3, 7):
        np.testing.assert_allclose(encoder.encode([TEXTS[i]])[0], vectors[i], atol=1e-5)


@pytest.mark.parametrize("pack_tokens", [0, 24])
def test_a_text_gets_the_same_bits_whatever_it_is_batched_with(
    tiny_encoder_path: Path, pack_tokens: int
) -> None:
    """What lets the embedding store mix vectors from different runs: exact, not close.
    Packed, the subsets put each text at other offsets of other calls."""
    encoder = TextEncoder(tiny_encoder_path, max_length=16, batch_size=3, pack_tokens=pack_tokens)
    vectors = encoder.encode(TEXTS)
    for subset in ([1, 3], [0, 2, 4, 5], [7], [6, 1, 0], [5, 4, 3, 2, 1, 0]):
        np.testing.assert_array_equal(encoder.encode([TEXTS[i] for i in subset]), vectors[subset])


@pytest.mark.parametrize("bucket", [1, 4])
def test_model_calls_have_one_shape_per_length_bucket(tiny_encoder_path: Path, bucket) -> None:
    encoder = TextEncoder(
        tiny_encoder_path, max_length=16, batch_size=3, length_bucket=bucket, pack_tokens=0
    )
    calls: list[tuple[tuple[int, ...], list[int]]] = []
    forward = encoder.model.forward

    def recording(**batch):
        calls.append((tuple(batch["input_ids"].shape), batch["attention_mask"].sum(1).tolist()))
        return forward(**batch)

    encoder.model.forward = recording  # type: ignore[method-assign]
    encoder.encode(TEXTS)
    lengths = {len(ids) for ids in encoder.tokenizer(TEXTS)["input_ids"]}
    buckets = {min(-(-n // bucket) * bucket, 16) for n in lengths}
    assert {shape[0] for shape, _ in calls} == {3}
    assert {shape[1] for shape, _ in calls} == buckets
    # Each text padded only up to its bucket: a call's texts are all within one bucket.
    for (_, padded_to), real in calls:
        assert all(padded_to - bucket < n <= padded_to for n in real)
    if bucket == 1:  # exact lengths: no padding at all
        assert all(n == shape[1] for shape, real in calls for n in real)


def test_a_text_keeps_its_bits_whatever_its_bucket_mates(tiny_encoder_path: Path) -> None:
    """Texts of different lengths in one bucket: each gets the vector it gets alone."""
    encoder = TextEncoder(
        tiny_encoder_path, max_length=16, batch_size=4, length_bucket=8, pack_tokens=0
    )
    vectors = encoder.encode(TEXTS)
    for i, text in enumerate(TEXTS):
        np.testing.assert_array_equal(encoder.encode([text])[0], vectors[i])


def test_the_bf16_probe_encodes_only_its_texts(tiny_encoder_path: Path) -> None:
    """The probe runs each text once per precision, not a full filled batch per token length
    (which cost more than encoding MovieLens-100k's whole catalogue)."""
    encoder = TextEncoder(
        tiny_encoder_path, max_length=16, batch_size=64, precision="bf16", pack_tokens=0
    )
    rows: list[int] = []
    forward = encoder.model.forward

    def counting(**batch):
        rows.append(int(batch["input_ids"].shape[0]))
        return forward(**batch)

    encoder.model.forward = counting  # type: ignore[method-assign]
    assert encoder.settle_precision(TEXTS) in ("bf16", "fp32")
    assert sum(rows) == 2 * len(TEXTS)  # fp32 and bf16, each text once
    rows.clear()
    encoder.encode(TEXTS)  # settled: no second probe; real encoding fills its batches
    lengths = {len(ids) for ids in encoder.tokenizer(TEXTS)["input_ids"]}
    buckets = {min(-(-n // encoder.length_bucket) * encoder.length_bucket, 16) for n in lengths}
    assert rows == [64] * len(buckets)


def test_batch_size_does_not_change_results(tiny_encoder_path: Path) -> None:
    one = TextEncoder(tiny_encoder_path, max_length=16, batch_size=1, pack_tokens=0)
    seven = TextEncoder(tiny_encoder_path, max_length=16, batch_size=7, pack_tokens=0)
    np.testing.assert_allclose(one.encode(TEXTS), seven.encode(TEXTS), atol=1e-5)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_packed_calls_match_padded_batches(tiny_encoder_path: Path, precision: str) -> None:
    """Packing changes the work, not the vectors: each text attends to itself only."""
    padded = TextEncoder(tiny_encoder_path, max_length=16, precision=precision, pack_tokens=0)
    packed = TextEncoder(tiny_encoder_path, max_length=16, precision=precision, pack_tokens=32)
    assert packed.pack_tokens == 32 and packed.identity != padded.identity
    tolerance = 1e-5 if precision == "fp32" else 2e-2
    np.testing.assert_allclose(packed.encode(TEXTS), padded.encode(TEXTS), atol=tolerance)


def test_packed_calls_have_one_shape_and_restart_positions(tiny_encoder_path: Path) -> None:
    encoder = TextEncoder(tiny_encoder_path, max_length=16, precision="fp32", pack_tokens=24)
    calls: list[tuple[tuple[int, ...], list[int], int]] = []
    forward = encoder.model.forward

    def recording(**batch):
        positions = batch["position_ids"][0].tolist()
        texts = sum(len(index) for index, _ in batch["segments"])
        calls.append((tuple(batch["input_ids"].shape), positions, texts))
        return forward(**batch)

    encoder.model.forward = recording  # type: ignore[method-assign]
    encoder.encode(TEXTS)
    lengths = [len(ids) for ids in encoder.tokenizer(TEXTS)["input_ids"]]
    assert {shape for shape, _, _ in calls} == {(1, 24)}
    assert sum(texts for _, _, texts in calls) == len(TEXTS)
    # Positions run 0..n-1 for each text in turn, in input order; the tail is filler at 0.
    laid_out = [p for _, positions, _ in calls for p in positions]
    expected = []
    used = 0
    for n in lengths:
        if used + n > 24:
            expected += [0] * (24 - used)
            used = 0
        expected += list(range(n))
        used += n
    expected += [0] * (24 - used)
    assert laid_out == expected
    # Greedy packing: no call could have taken the next text.
    assert len(calls) == len(expected) // 24


def test_pack_tokens_must_hold_the_longest_text(tiny_encoder_path: Path) -> None:
    with pytest.raises(ValueError, match="pack_tokens"):
        TextEncoder(tiny_encoder_path, max_length=16, pack_tokens=8)


@pytest.fixture(scope="module")
def tiny_distilbert_path(tiny_encoder_path: Path, tmp_path_factory) -> Path:
    """The tiny BERT's tokenizer with a random DistilBERT: a model type that is not packed."""
    import shutil

    import torch
    from transformers import DistilBertConfig, DistilBertModel

    folder = tmp_path_factory.mktemp("tiny-distilbert")
    for file in tiny_encoder_path.iterdir():
        if "token" in file.name or file.name in ("vocab.txt", "special_tokens_map.json"):
            shutil.copy(file, folder / file.name)
    vocab = len((tiny_encoder_path / "vocab.txt").read_text().split())
    config = DistilBertConfig(vocab_size=vocab, dim=32, n_layers=2, n_heads=4, hidden_dim=37)
    torch.manual_seed(0)
    DistilBertModel(config).save_pretrained(str(folder))
    return folder


def test_other_model_types_use_bucketed_batches(tiny_distilbert_path: Path) -> None:
    encoder = TextEncoder(tiny_distilbert_path, max_length=16, batch_size=3, precision="fp32")
    assert encoder.pack_tokens == 0
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    for subset in ([1, 3], [7]):
        np.testing.assert_array_equal(encoder.encode([TEXTS[i] for i in subset]), vectors[subset])


def test_truncation_at_max_length(tiny_encoder_path: Path) -> None:
    short = TextEncoder(tiny_encoder_path, max_length=8, batch_size=4)
    base = "the star city"
    longer = base + " and a night of love and war in the old year"
    # With 8 tokens ([CLS] + 6 words + [SEP]) both texts keep the same first words.
    a, b = short.encode([base + " and a night", longer])
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_empty_input(encoder: TextEncoder) -> None:
    vectors = encoder.encode([])
    assert vectors.shape == (0, 32)
    assert vectors.dtype == np.float32


def test_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(EncoderNotFoundError, match="config.json"):
        TextEncoder(tmp_path / "does-not-exist")
    assert issubclass(EncoderNotFoundError, FileNotFoundError)
    with pytest.raises(EncoderNotFoundError):
        TextEncoder(tmp_path)  # exists, but holds no model


def test_from_config_reads_the_encoder_section(tiny_encoder_path: Path) -> None:
    from mtrec.config import EncoderConfig

    config = EncoderConfig(model_path=tiny_encoder_path, max_length=16, pack_tokens=48)
    run = TextEncoder.from_config(config)
    assert (run.max_length, run.batch_size, run.pack_tokens) == (16, 128, 48)
    served = TextEncoder.from_config(config, batch_size=1, pack_tokens=0)
    assert (served.batch_size, served.pack_tokens) == (1, 0)
