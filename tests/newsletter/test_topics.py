"""The default topics (migration 0002) read against the real sample of trending
papers, and the topic services (newsletter/services.py)."""

import datetime as dt
import importlib
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.conf import settings

from newsletter.ingest import papers_import_file
from newsletter.models import Paper, PaperTopic, Topic
from newsletter.relevance import RELEVANCE_THRESHOLD, TopicMatcher, papers_score, topic_rescore
from newsletter.services import paper_topic_reset, paper_topic_set, topic_update
from tests.factories import PaperFactory, PaperTopicFactory, TopicFactory

default_topics_migration = importlib.import_module("newsletter.migrations.0002_default_topics")
SAMPLE = Path(settings.BASE_DIR) / "newsletter" / "fixtures" / "daily_papers_2025-11-24.json"
SAMPLE_DATE = dt.date(2025, 11, 24)


@pytest.fixture
def default_topics(db):
    # The migration made them; a transactional test elsewhere may have flushed
    # them, so make sure (get_or_create, as the migration does).
    default_topics_migration.topics_create(django_apps, None)
    return {t.slug: t for t in Topic.objects.all()}


@pytest.fixture
def sample(default_topics):
    """The 73 sample papers imported as `manage.py fetch_papers --file` does; the
    importer scores them. Returns {topic slug: {title: PaperTopic}}."""
    papers_import_file(path=SAMPLE, trending_date=SAMPLE_DATE)
    by_topic: dict[str, dict[str, PaperTopic]] = {slug: {} for slug in default_topics}
    for row in PaperTopic.objects.filter(score__gt=0).select_related("paper", "topic"):
        by_topic[row.topic.slug][row.paper.title] = row
    return by_topic


def titles(rows: dict[str, PaperTopic], *starts: str) -> set[str]:
    """The full titles of papers whose title starts with one of `starts`."""
    return {title for title in rows if title.startswith(starts)}


# --- The default topics -------------------------------------------------------


def test_about_a_dozen_default_topics_each_explained_and_ordered(default_topics):
    topics = [default_topics[d["slug"]] for d in default_topics_migration.DEFAULT_TOPICS]
    assert 10 <= len(topics) <= 16
    assert [t.position for t in topics] == sorted({t.position for t in topics})
    for topic in topics:
        assert topic.is_active
        assert 20 <= len(topic.description) <= 240, topic.name
        assert len(topic.keyword_list) >= 8, topic.name
        # Every keyword line means something to the matcher.
        assert len(TopicMatcher(topic.keyword_list).keywords) == len(topic.keyword_list), topic.name


# --- Read as a reader: the sample of 2025-11-24 -----------------------------------


@pytest.mark.django_db
def test_every_sample_paper_is_scored_and_no_topic_grabs_half(sample):
    total = Paper.objects.count()
    assert total == 73
    with_topic = set(
        PaperTopic.objects.filter(score__gte=RELEVANCE_THRESHOLD).values_list("paper", flat=True)
    )
    assert len(with_topic) >= 0.95 * total
    for slug, rows in sample.items():
        assert len(rows) < total / 2, slug
    assert all(row.source == PaperTopic.Source.AUTO for rows in sample.values() for row in rows.values())
    assert all(row.score >= RELEVANCE_THRESHOLD for rows in sample.values() for row in rows.values())


@pytest.mark.django_db
def test_continual_learning_takes_the_continual_learning_papers(sample):
    rows = sample["continual-learning"]
    assert len(titles(
        rows,
        "Beyond Not-Forgetting: Continual Learning",
        "A Closer Look at Rehearsal-Free Continual Learning",
        "FeTrIL: Feature Translation for Exemplar-Free Class-Incremental Learning",
        "Challenging Common Assumptions about Catastrophic Forgetting",
        "Online Continual Learning on Hierarchical Label Expansion",
        "Reinforcement Fine-Tuning Naturally Mitigates Forgetting",
        "A Deep Learning Framework for Lifelong Machine Learning",
    )) == 7
    assert not titles(
        rows, "Improving the Training of Rectified Flows", "UniViTAR", "Reverse Thinking",
        "InstructRetro", "Learning from Future",
    )
    beyond = rows[next(iter(titles(rows, "Beyond Not-Forgetting")))]
    assert beyond.matched_terms[0] == "continual learning"
    assert "catastrophic forgetting" in beyond.matched_terms


@pytest.mark.django_db
def test_llm_reasoning_takes_the_reasoning_papers(sample):
    rows = sample["llm-reasoning"]
    assert len(titles(
        rows,
        "Reverse Thinking Makes LLMs Stronger Reasoners",
        "Weak-to-Strong Reasoning",
        "Forward-Backward Reasoning in Large Language Models",
        "Parallel-R1: Towards Parallel Thinking",
        "Think Thrice Before You Act",
    )) == 5
    assert not titles(
        rows, "Sparse Training via Boosting Pruning", "BACS", "Online Continual Learning",
        "Fast Certified Robust Training",
    )


@pytest.mark.django_db
def test_the_diffusion_rl_paper_is_under_both_diffusion_and_rl(sample):
    b2 = "Towards Better Alignment: Training Diffusion Models with Reinforcement Learning"
    diffusion, rl = sample["diffusion-generation"], sample["reinforcement-learning"]
    assert titles(diffusion, b2) and titles(rl, b2)
    assert "reinforcement learning" in rl[next(iter(titles(rl, b2)))].matched_terms
    assert titles(diffusion, "Improving the Training of Rectified Flows", "SaRA:")
    assert not titles(diffusion, "Reverse Thinking", "FeTrIL", "Weak-to-Strong Reasoning")


@pytest.mark.django_db
def test_reinforcement_learning_takes_rl_papers_only(sample):
    rows = sample["reinforcement-learning"]
    assert len(titles(
        rows, "Parallel-R1", "CodeBoost", "ODICE", "RLP: Reinforcement as a Pretraining Objective",
        "Reinforcement Learning on Pre-Training Data",
    )) == 5
    assert not titles(
        rows, "Online Continual Learning", "UniViTAR", "Learning How To Ask", "BART:",
        "Towards Robust Text Retrieval",
    )


@pytest.mark.django_db
def test_retrieval_and_efficiency_topics(sample):
    retrieval = sample["retrieval-rag"]
    assert len(titles(
        retrieval, "Towards Robust Text Retrieval", "Training Curricula for Open Domain Answer Re-Ranking",
        "InstructRetro", "Shall We Pretrain Autoregressive Language Models with Retrieval",
    )) == 4
    assert not titles(retrieval, "NoProp", "Prototype-Sample Relation Distillation", "Reverse Thinking")

    efficient = sample["efficient-training"]
    assert len(titles(
        efficient, "Low-Precision Training of Large Language Models", "PERP:",
        "Blockwise Compression of Transformer-based Models", "Sparse Training via Boosting Pruning",
    )) == 4
    assert not titles(efficient, "Weak-to-Strong Reasoning", "BACS", "Reverse Thinking")


@pytest.mark.django_db
def test_vision_alignment_and_agents(sample):
    assert titles(sample["vision-language"], "Kwai Keye-VL", "Towards Cross-modal Backward-compatible")
    assert not titles(sample["vision-language"], "UniViTAR", "Searching for Efficient Multi-Stage")
    assert titles(sample["visual-recognition"], "UniViTAR", "BACS", "Learning from Future")
    assert titles(sample["alignment"], "Does Refusal Training in LLMs", "Weak-to-Strong Generalization")
    # "Classifier Alignment" is not what readers of alignment mean.
    assert not titles(sample["alignment"], "SLCA")
    assert titles(sample["agents"], "Learn-by-interact")
    assert not titles(sample["agents"], "Progressive Pretext Task Learning for Human Trajectory")


# --- Services -----------------------------------------------------------------


@pytest.fixture
def topic(db):
    return TopicFactory(name="Graph things", slug="graph-things-test", keywords="graph neural network")


@pytest.mark.django_db
def test_topic_update_of_keywords_rescores_papers(topic):
    gnn = PaperFactory(title="Forward Learning of Graph Neural Networks")
    segmentation = PaperFactory(title="BACS: Background Aware Continual Semantic Segmentation")
    PaperTopic.objects.all().delete()

    topic_update(topic=topic, keywords="graph neural network\nGNN")
    assert set(topic.paper_scores.values_list("paper", flat=True)) == {gnn.id}

    topic_update(topic=topic, keywords="semantic segmentation")
    assert set(topic.paper_scores.values_list("paper", flat=True)) == {segmentation.id}
    assert topic.paper_scores.get().matched_terms == ["semantic segmentation"]
    topic.refresh_from_db()
    assert topic.keyword_list == ["semantic segmentation"]


@pytest.mark.django_db
def test_topic_update_as_the_admin_calls_it_rescores_too(topic):
    """The admin's form has already put the new keywords on the instance."""
    paper = PaperFactory(title="Continual Semantic Segmentation")
    PaperTopic.objects.all().delete()
    topic.keywords = "semantic segmentation"
    topic_update(topic=topic, keywords="semantic segmentation")
    assert topic.paper_scores.filter(paper=paper).exists()


@pytest.mark.django_db
def test_topic_update_of_other_fields_leaves_scores_alone(topic):
    paper = PaperFactory(title="Forward Learning of Graph Neural Networks")
    row = PaperTopicFactory(paper=paper, topic=topic, score=0.42, matched_terms=["graph"])
    topic_update(topic=topic, description="Graphs, nodes and edges.", position=3)
    row.refresh_from_db()
    assert row.score == 0.42
    topic.refresh_from_db()
    assert (topic.description, topic.position) == ("Graphs, nodes and edges.", 3)


@pytest.mark.django_db
def test_deactivating_a_topic_drops_its_automatic_rows_only(topic):
    auto = PaperFactory(title="Forward Learning of Graph Neural Networks")
    edited = PaperFactory(title="A Study of Molecules")
    papers_score(papers=[auto])
    assert topic.paper_scores.filter(paper=auto).exists()
    paper_topic_set(paper=edited, topic=topic, assigned=True)
    topic_update(topic=topic, is_active=True)  # unchanged: nothing happens

    topic_update(topic=topic, is_active=False)
    assert list(topic.paper_scores.values_list("paper", flat=True)) == [edited.id]

    topic_update(topic=topic, is_active=True)
    assert set(topic.paper_scores.values_list("paper", flat=True)) == {auto.id, edited.id}


@pytest.mark.django_db
def test_topic_update_refuses_unknown_fields(topic):
    with pytest.raises(TypeError, match="colour"):
        topic_update(topic=topic, colour="red")


@pytest.mark.django_db
def test_an_editor_assignment_survives_rescoring(topic):
    paper = PaperFactory(title="A Study of Molecules", abstract="Nothing about the keywords.")
    row = paper_topic_set(paper=paper, topic=topic, assigned=True)
    assert (row.source, row.score) == (PaperTopic.Source.EDITOR, 1.0)

    topic_update(topic=topic, keywords="transformers")
    row.refresh_from_db()
    assert (row.source, row.score) == (PaperTopic.Source.EDITOR, 1.0)


@pytest.mark.django_db
def test_an_editor_removal_survives_rescoring_until_reset(topic):
    paper = PaperFactory(title="Forward Learning of Graph Neural Networks")
    papers_score(papers=[paper])
    assert topic.paper_scores.get(paper=paper).source == PaperTopic.Source.AUTO

    row = paper_topic_set(paper=paper, topic=topic, assigned=False)
    assert (row.source, row.score, row.matched_terms) == (PaperTopic.Source.EDITOR, 0, [])
    papers_score(papers=[paper])
    topic_rescore(topic=topic)
    assert topic.paper_scores.get(paper=paper).score == 0

    paper_topic_reset(paper=paper, topic=topic)
    row = topic.paper_scores.get(paper=paper)
    assert row.source == PaperTopic.Source.AUTO
    assert row.score >= RELEVANCE_THRESHOLD
    assert row.matched_terms == ["graph neural network"]


@pytest.mark.django_db
def test_an_editor_assignment_keeps_the_matched_terms_when_there_are_some(topic):
    paper = PaperFactory(title="Graph Neural Network Basics")
    row = paper_topic_set(paper=paper, topic=topic, assigned=True)
    assert row.matched_terms == ["graph neural network"]
