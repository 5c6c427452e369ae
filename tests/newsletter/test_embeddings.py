"""The two models behind a paper's vector (newsletter/embeddings.py, minilm.py)."""

import hashlib
import importlib

import numpy as np
import pytest
from django.apps import apps as django_apps

from newsletter import embeddings, minilm
from newsletter.models import Paper, Topic
from newsletter.relevance import topics_rescore
from tests.factories import PaperFactory, TopicFactory


def _cosine(a: str, b: str) -> float:
    va, vb = minilm.texts_embed([a, b])
    return float(va @ vb)


def test_the_numpy_minilm_gives_the_similarities_its_documentation_gives():
    """sentence-transformers' documentation of all-MiniLM-L6-v2: the numbers a wrong
    layer, pooling or tokenizer would not reproduce."""
    weather = "The weather is lovely today."
    assert _cosine(weather, "It's so sunny outside!") == pytest.approx(0.6660, abs=0.002)
    assert _cosine(weather, "He drove to the stadium.") == pytest.approx(0.1046, abs=0.002)
    assert _cosine("A man is eating food.", "A man is eating a piece of bread.") == pytest.approx(0.7553, abs=0.002)


def test_minilm_reads_a_long_text_as_its_first_256_tokens_and_a_blank_one_as_nothing():
    """As sentence-transformers runs all-MiniLM-L6-v2 (max_seq_length 256, not the
    128 its tokenizer.json says): texts that part after 150 tokens have two vectors,
    texts that part after 300 one; a text longer than the model's 512 positions
    embeds rather than failing an import. A text of whitespace only is no text: a
    zero row, as an empty one."""
    sentence = "the model learns from data "  # 5 tokens

    def parting_after(tokens: int) -> np.ndarray:
        shared = sentence * (tokens // 5)
        return minilm.texts_embed([shared + "continual learning " * 300, shared + "diffusion models " * 300])

    a, b = parting_after(150)
    assert float(a @ b) < 0.999
    a, b = parting_after(300)
    assert float(a @ b) == pytest.approx(1.0, abs=1e-6)
    assert not minilm.texts_embed(["", "  \n\t"]).any()


def test_a_vector_is_both_models_and_its_cosines_their_weighted_mean():
    texts = ["Continual learning without catastrophic forgetting.",
             "Diffusion models generate images from text."]
    vectors = embeddings.texts_embed(texts)
    assert vectors.shape == (2, embeddings.DIMENSIONS)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)
    static = embeddings._unit_rows(np.asarray(embeddings._model().embed(texts, norm=False), dtype=np.float32))
    contextual = minilm.texts_embed(texts)
    share = embeddings.MINILM_SHARE
    expected = (1 - share) * float(static[0] @ static[1]) + share * float(contextual[0] @ contextual[1])
    assert float(vectors[0] @ vectors[1]) == pytest.approx(expected, abs=1e-5)
    assert not embeddings.texts_embed([""]).any()  # an empty text: a zero row


@pytest.mark.django_db
def test_vectors_of_an_earlier_model_are_made_again_not_misread():
    """After the upgrade to two models, a 256-dimension vector left in the database
    reads as missing: the topic is embedded again at its next use, and a re-score
    gives every paper a vector of today's size."""
    old = np.ones(embeddings.WORDLLAMA_DIMENSIONS, dtype=np.float16).tobytes()
    assert embeddings.vector_unpack(old) is None
    topic = TopicFactory(name="Continual learning")
    Topic.objects.filter(pk=topic.pk).update(embedding=old, exemplar_embedding=old)
    paper = PaperFactory(title="Continual learning without forgetting", embedding=old)
    topic.refresh_from_db()

    definitions, _ = embeddings.topic_vectors(topics=[topic])
    assert definitions.shape == (1, embeddings.DIMENSIONS)
    topic.refresh_from_db()
    assert embeddings.vector_unpack(topic.embedding) is not None

    topics_rescore()
    paper.refresh_from_db()
    assert embeddings.vector_unpack(paper.embedding) is not None


@pytest.mark.django_db
@pytest.mark.parametrize("old_part", ["definition", "examples"])
def test_a_topic_with_either_vector_of_an_earlier_model_is_embedded_again(old_part):
    """Each of the topic's two stored vectors on its own: a definition of an earlier
    size beside a current example centroid, and the other way round, is missing."""
    old = np.ones(embeddings.WORDLLAMA_DIMENSIONS, dtype=np.float16).tobytes()
    current = embeddings.vector_pack(embeddings.texts_embed(["Graph neural networks."])[0])
    topic = TopicFactory(name="Graphs of molecules")
    Topic.objects.filter(pk=topic.pk).update(
        embedding=old if old_part == "definition" else current,
        exemplar_embedding=old if old_part == "examples" else None,
    )
    topic.refresh_from_db()
    assert embeddings.topic_vectors_missing(topic)
    embeddings.topic_vectors(topics=[topic])
    topic.refresh_from_db()
    assert not embeddings.topic_vectors_missing(topic)


@pytest.mark.django_db
def test_a_topics_examples_are_its_editors_papers_as_stored_and_every_builtin_one():
    """The example centroid: an editor's example counts by the vector stored for it
    (embedded once, at its import: not computed again), and each of the topic's
    built-in examples counts; with none of either there is no centroid, and the
    topic whose last example is unmarked no longer pulls papers toward it."""
    from newsletter.services import topic_exemplars_set

    text = "Message passing neural networks on molecular graphs."
    stored = embeddings.vector_unpack(embeddings.vector_pack(embeddings.texts_embed([text])[0]))

    shipped = [{"title": "Message passing neural networks", "abstract": "on molecular graphs."},
               {"title": "Link prediction in knowledge graphs", "abstract": "with graph transformers."}]
    builtin = TopicFactory(name="Graphs of molecules and knowledge", builtin_examples=shipped)
    embeddings.topic_embed(topic=builtin)
    both = embeddings.vectors_centroid([
        embeddings.vector_unpack(embeddings.vector_pack(v))
        for v in embeddings.texts_embed([embeddings.paper_text(Paper(**p)) for p in shipped])
    ])
    assert float(embeddings.vector_unpack(builtin.exemplar_embedding) @ both) == pytest.approx(1.0, abs=1e-3)

    topic = TopicFactory(name="Weather")
    embeddings.topic_embed(topic=topic)
    assert topic.exemplar_embedding is None
    # Stored as if embedded at import; its own text says something else.
    example = PaperFactory(title="A paper about the weather", embedding=embeddings.vector_pack(stored))
    topic_exemplars_set(topic=topic, papers=[example])
    topic.refresh_from_db()
    centroid = embeddings.vector_unpack(topic.exemplar_embedding)
    assert float(centroid @ stored) == pytest.approx(1.0, abs=1e-3)

    topic_exemplars_set(topic=topic, papers=[example], example=False)
    topic.refresh_from_db()
    assert topic.exemplar_embedding is None


def test_a_wordllama_weights_file_that_is_not_the_measured_one_is_refused(monkeypatch):
    """The weights, not only the tokenizer: a rebuilt wheel's other weights would
    change every vector without a word."""
    from newsletter import weights

    monkeypatch.setattr(embeddings, "WORDLLAMA_WEIGHTS", "0" * 64)
    embeddings._model.cache_clear()
    try:
        with pytest.raises(weights.WeightsChanged, match="l2_supercat_256.safetensors"):
            embeddings.texts_embed(["Graph neural networks."])
    finally:
        monkeypatch.undo()
        embeddings._model.cache_clear()


@pytest.mark.django_db
def test_a_papers_vector_reads_its_ai_summary_not_the_apis_keyword_list():
    """The API's AI keywords pulled papers toward neighbouring topics when embedded
    (docs/relevance.md): a paper's vector moves with its AI summary, not with them,
    and the upgrade clears the vectors that were made with them (migration 0014),
    leaving the others."""
    paper = PaperFactory(
        title="Replay-free continual learning",
        abstract="A method that learns a stream of tasks without forgetting the earlier ones.",
        ai_summary="", ai_keywords=[],
    )
    plain = embeddings.papers_embed(papers=[paper])[paper.id]
    paper.ai_keywords = ["reinforcement learning", "diffusion models", "large language models"]
    assert embeddings.papers_embed(papers=[paper])[paper.id] == pytest.approx(plain)
    paper.ai_summary = "A continual learner keeps earlier tasks without storing their data."
    assert embeddings.papers_embed(papers=[paper])[paper.id] != pytest.approx(plain, abs=1e-3)

    migration = importlib.import_module("newsletter.migrations.0014_paper_vectors_without_ai_keywords")
    paper.save(update_fields=["ai_summary", "ai_keywords"])
    other = PaperFactory(title="Another paper", ai_keywords=[])
    embeddings.papers_embed(papers=[other])
    paper.refresh_from_db()
    other.refresh_from_db()
    assert paper.embedding is not None and other.embedding is not None
    migration.vectors_clear(django_apps, None)
    paper.refresh_from_db()
    other.refresh_from_db()
    assert paper.embedding is None  # made from the old text
    assert other.embedding is not None  # no AI keywords: its text did not change


def test_a_topics_definition_text_leaves_out_the_phrases_it_is_not_about():
    """A "not:" phrase names another field: in the topic's vector it would pull the
    topic toward the papers it keeps out. Markers are not words of the definition."""
    # A position of its own: a new topic's default is read from the stored topics.
    topic = Topic(name="Post-training recipes", description="Fine-tuning a pretrained model into an assistant.",
                  keywords="post-training\ntitle:chat model\nnot:post-training quantization\n", position=10)
    assert embeddings.topic_text(topic) == (
        "Post-training recipes. Fine-tuning a pretrained model into an assistant.\npost-training, chat model"
    )


def test_the_model_files_are_pinned_by_their_contents_and_a_changed_one_is_refused(tmp_path, monkeypatch):
    """pyproject pins the wheels by version only: a wheel rebuilt under the same
    version, or a file changed on disk, changed every vector without a word (left
    from the last notes). The files are pinned by SHA-256 (newsletter/weights.py):
    the installed ones pass, a changed copy is refused saying what to do, and
    `check --deploy` names it."""
    from config.checks import embedding_files_are_the_measured_ones
    from newsletter import weights

    assert embedding_files_are_the_measured_ones(None) == []
    for path, sha256 in weights.pinned_files():
        assert weights.file_verified(path, sha256) == path

    path, sha256 = weights.pinned_files()[1]  # MiniLM's tokenizer
    changed = tmp_path / path.name
    changed.write_bytes(path.read_bytes().replace(b'"[UNK]"', b'"[UNKNOWN]"', 1))
    with pytest.raises(weights.WeightsChanged, match=r"not the file relevance was measured with.*make eval"):
        weights.file_verified(changed, sha256)

    monkeypatch.setattr(weights, "WORDLLAMA_TOKENIZER", "0" * 64)
    (error,) = embedding_files_are_the_measured_ones(None)
    assert error.id == "digest.E009" and "l2_supercat_tokenizer_config.json" in error.msg
    # Files missing from the image are named, each of them, not a traceback.
    gone = [(tmp_path / "gone.safetensors", "0" * 64), (tmp_path / "gone.json", "0" * 64)]
    monkeypatch.setattr(weights, "pinned_files", lambda: gone)
    assert [("gone.safetensors" in e.msg, "gone.json" in e.msg) for e in embedding_files_are_the_measured_ones(None)] == [
        (True, False), (False, True)]


def test_a_refused_model_file_is_named_by_its_path_with_both_digests_and_what_to_do(tmp_path):
    """The operator reading the refusal must find the file (MiniLM's is one
    `tokenizer.json` among many), see that the two digests differ, and be told the
    two ways out; a digest that agrees only in the digits shown is still refused."""
    from newsletter import weights

    path = tmp_path / "tokenizer.json"
    path.write_text("{}")
    found = hashlib.sha256(b"{}").hexdigest()
    pinned = found[:12] + ("0" if found[12] != "0" else "1") + found[13:]

    with pytest.raises(weights.WeightsChanged) as refused:
        weights.file_verified(path, pinned)

    message = str(refused.value)
    assert message.startswith(f"{path} is not the file relevance was measured with")
    assert f"SHA-256 {found[:12]}…, pinned {pinned[:12]}…" in message
    assert "`make install`" in message and "`make eval`" in message


def test_check_deploy_checks_each_of_the_four_model_files(monkeypatch):
    from config.checks import embedding_files_are_the_measured_ones
    from newsletter import weights

    for name in ("MINILM_WEIGHTS", "MINILM_TOKENIZER", "WORDLLAMA_WEIGHTS", "WORDLLAMA_TOKENIZER"):
        monkeypatch.setattr(weights, name, "0" * 64)

    refused = [error.msg.split(" is not ", 1)[0] for error in embedding_files_are_the_measured_ones(None)]

    assert [path.rsplit("/", 1)[-1] for path in refused] == [
        "model.safetensors", "tokenizer.json", "l2_supercat_256.safetensors", "l2_supercat_tokenizer_config.json"]
