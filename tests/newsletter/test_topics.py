"""The default topics (migration 0002) read against the real sample of trending
papers, and the topic services (newsletter/services.py)."""

import datetime as dt
import importlib
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.conf import settings

from newsletter import embeddings
from newsletter.evaluation import days_load
from newsletter.ingest import papers_import_file, title_normalise
from newsletter.models import Paper, PaperTopic
from newsletter.relevance import (
    RELEVANCE_THRESHOLD,
    TopicMatcher,
    keyword_lines_problems,
    papers_score,
    topics_rescore,
)
from newsletter.services import paper_topic_reset, paper_topic_set, topic_update
from tests.factories import PaperFactory, PaperTopicFactory, TopicFactory

default_topics_migration = importlib.import_module("newsletter.migrations.0008_default_topics_as_definitions")
SAMPLE = Path(settings.BASE_DIR) / "newsletter" / "fixtures" / "daily_papers_2025-11-24.json"
SAMPLE_DATE = dt.date(2025, 11, 24)


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
        # Every keyword line means something to the matcher, and the topic form takes them
        # as they are (an editor saving a default topic unchanged is not refused).
        assert len(TopicMatcher(topic.keyword_list).keywords) == len(topic.keyword_list), topic.name
        assert keyword_lines_problems(topic.keyword_list) == [], topic.name


@pytest.mark.parametrize("slug, title, abstract, wanted", [
    ("post-training", "SmoothQuant: Accurate and Efficient Post-Training Quantization for Large Language Models",
     ("We migrate the difficulty of activation quantisation to the weights, enabling 8-bit post-training "
      "quantization of weights and activations."), ()),
    ("post-training", "Direct Preference Optimization", "We skip the reward model of RLHF in post-training.",
     ("post-training",)),
    ("alignment", "Learning Transferable Visual Models From Natural Language Supervision",
     ("Contrastive pre-training on image-text pairs gives strong image-text alignment and cross-modal "
      "alignment for zero-shot transfer."), ()),
    ("alignment", "Training a Helpful and Harmless Assistant", "We study the alignment of assistants.",
     ("alignment",)),
    ("continual-learning", "Human-level control through deep reinforcement learning",
     "A deep Q-network learns from experience replay to play Atari games.", ()),
    ("continual-learning", "Gradient Episodic Memory", "Rehearsal and replay of past examples.", ("replay",)),
    ("visual-recognition", "A Multimodal Assistant", "A vision encoder feeds an LLM backbone.", ()),
    ("graph-learning", "Automatic Differentiation in Machine Learning",
     "Reverse mode walks the computational graph backwards.", ()),
])
def test_default_topics_do_not_count_another_fields_term_of_art(default_topics, slug, title, abstract, wanted):
    """Migration 0016's "not:" phrases: the topic's word inside a term of another
    field (compression's post-training quantization, CLIP's image-text alignment,
    DQN's experience replay) is no evidence for it; alone, it still is."""
    match = TopicMatcher(default_topics[slug].keyword_list).match(title=title, abstract=abstract)
    if wanted:
        assert set(wanted) <= set(match.terms)
    else:  # no evidence at all, and nothing for the "why" line
        assert (match.score, match.terms) == (0, ())


def test_the_not_phrases_migration_re_scores_the_tags_that_rested_on_the_word_once(default_topics):
    """An upgraded site's tags that matched "post-training" may have been a
    quantization paper's: those papers' vectors are cleared, so bootstrap and the
    beat task score them again (relevance.papers_missing_rescore); others keep
    theirs. Run twice, the migration adds nothing twice."""
    migration = importlib.import_module("newsletter.migrations.0016_topic_keywords_not_phrases")
    post = default_topics["post-training"]
    post.keywords = "\n".join(line for line in post.keyword_list if not line.startswith("not:"))
    post.save()
    rested, other = PaperFactory(embedding=b"x" * 8), PaperFactory(embedding=b"y" * 8)
    PaperTopicFactory(paper=rested, topic=post, matched_terms=["post-training"])
    PaperTopicFactory(paper=other, topic=post, matched_terms=["DPO"])
    migration.phrases_add(django_apps, None)
    migration.phrases_add(django_apps, None)
    rested.refresh_from_db(), other.refresh_from_db(), post.refresh_from_db()
    assert rested.embedding is None and bytes(other.embedding) == b"y" * 8
    assert post.keyword_list.count("not:post-training quantization") == 1
    assert Paper.objects.filter(embedding=None).count() == 1


def test_each_default_topic_comes_with_canonical_papers_of_its_field_none_from_a_labelled_day(default_topics):
    # The evaluation's days (tests/data/relevance, the sample day among them) must
    # not be learnt from: no built-in example is one of their papers.
    labelled = {title_normalise(title) for day in days_load() for title in day.relevant}
    for slug in (d["slug"] for d in default_topics_migration.DEFAULT_TOPICS):
        topic = default_topics[slug]
        assert 3 <= len(topic.builtin_examples) <= 5, slug
        for example in topic.builtin_examples:
            assert title_normalise(example["title"]) not in labelled, example["title"]
            assert len(example["abstract"]) >= 200, example["title"]
    # They make the topic's examples' vector, as papers an editor marked would.
    topic = default_topics["graph-learning"]
    embeddings.topic_embed(topic=topic)
    topic.refresh_from_db()
    assert topic.exemplar_embedding is not None and not topic.exemplars.exists()


# --- Read as a reader: the labelled sample day ---------------------------------
# How well each default topic picks papers is measured on the labelled days by
# tests/newsletter/test_evaluation.py (newsletter/evaluation.py); here, only what
# holds for any day.


@pytest.mark.django_db
def test_every_sample_paper_is_scored_with_both_models(sample):
    # How many tags each topic takes, against the labels, is the evaluation's
    # (tests/newsletter/test_evaluation.py, TAG_PRECISION_FLOOR): the sample day is
    # mostly language-model papers, so a topic about them may well tag half of it.
    total = Paper.objects.count()
    assert total == 73
    assert {len(p.embedding) for p in Paper.objects.all()} == {embeddings.DIMENSIONS * 2}
    assert all(row.source == PaperTopic.Source.AUTO for rows in sample.values() for row in rows.values())
    assert all(row.score >= RELEVANCE_THRESHOLD for rows in sample.values() for row in rows.values())


@pytest.mark.django_db
def test_a_topic_keeps_the_terms_that_matched_for_the_digest(sample):
    rows = sample["continual-learning"]
    beyond = rows["Beyond Not-Forgetting: Continual Learning with Backward Knowledge Transfer"]
    assert "continual learning" in beyond.matched_terms


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

    # A topic is its name and description too (the semantic half): a new field.
    topic_update(topic=topic, name="Segmentation", description="Papers about semantic segmentation.",
                 keywords="semantic segmentation")
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
    topic_update(topic=topic, slug="graphs", position=3)
    row.refresh_from_db()
    assert row.score == 0.42
    topic.refresh_from_db()
    assert (topic.slug, topic.position) == ("graphs", 3)


@pytest.mark.django_db
@pytest.mark.parametrize("field, value", [
    ("description", "Chemistry: molecules, atoms, bonds and their properties."),
    ("name", "Molecules and their graphs"),
])
def test_a_new_description_or_name_rescores_because_it_is_part_of_the_definition(topic, field, value):
    paper = PaperFactory(
        title="Message passing on molecules",
        abstract="We predict properties of molecules with a graph neural network over atoms and bonds.",
    )
    papers_score(papers=[paper])
    before = PaperTopic.objects.get(paper=paper, topic=topic).score
    topic_update(topic=topic, **{field: value})
    assert PaperTopic.objects.get(paper=paper, topic=topic).score != before


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
    topics_rescore(changed=topic)
    assert topic.paper_scores.get(paper=paper).score == 0

    paper_topic_reset(paper=paper, topic=topic)
    row = topic.paper_scores.get(paper=paper)
    assert row.source == PaperTopic.Source.AUTO
    assert row.score >= RELEVANCE_THRESHOLD
    assert row.matched_terms == ["graph neural networks"]  # as the title writes it


@pytest.mark.django_db
def test_an_editor_assignment_keeps_the_matched_terms_when_there_are_some(topic):
    paper = PaperFactory(title="Graph Neural Network Basics")
    row = paper_topic_set(paper=paper, topic=topic, assigned=True)
    assert row.matched_terms == ["graph neural network"]


# --- Examples ---------------------------------------------------------------------


@pytest.mark.django_db
def test_papers_marked_as_examples_pull_their_neighbours_into_the_topic(default_topics):
    from newsletter.services import topic_exemplars_set

    topic = TopicFactory(name="Weather", slug="weather", description="Forecasting the weather.",
                         keywords="")
    examples = [
        PaperFactory(title="Learning medium-range global weather forecasts",
                     abstract="A neural network predicts temperature, wind and pressure ten days ahead "
                              "on a global grid, faster than numerical weather prediction."),
        PaperFactory(title="Nowcasting precipitation with deep generative models",
                     abstract="Radar maps of rain are extrapolated ninety minutes ahead by a generative "
                              "model that forecasters preferred to operational nowcasts."),
    ]
    neighbour = PaperFactory(title="Probabilistic forecasts of storms and cyclones",
                             abstract="An ensemble of neural networks forecasts the tracks of tropical "
                                      "cyclones and the rain of storms days ahead.")
    papers_score(papers=[*examples, neighbour])
    before = PaperTopic.objects.filter(paper=neighbour, topic=topic).first()

    assert topic_exemplars_set(topic=topic, papers=examples) == 2
    assert topic_exemplars_set(topic=topic, papers=examples) == 0  # already examples

    row = PaperTopic.objects.get(paper=neighbour, topic=topic)
    assert row.score > (before.score if before else 0)
    assert row.near_examples is True
    assert set(topic.exemplars.all()) == set(examples)
    topic.refresh_from_db()
    assert topic.exemplar_embedding is not None


@pytest.mark.django_db
def test_marking_an_example_again_puts_back_the_topic_an_editor_took_off_it(topic):
    """An example of a topic is about it: an editor who took the topic off an example
    and then marks it as an example again (it still is one) sees the topic back on
    it, as the docstring of topic_exemplars_set says, not left off."""
    from newsletter.services import topic_exemplars_set

    example = PaperFactory(title="Message passing on molecules")
    topic_exemplars_set(topic=topic, papers=[example])
    paper_topic_set(paper=example, topic=topic, assigned=False)

    assert topic_exemplars_set(topic=topic, papers=[example]) == 0  # it was one already
    row = PaperTopic.objects.get(paper=example, topic=topic)
    assert (row.score, row.source) == (1.0, PaperTopic.Source.EDITOR)
