"""newsletter/relevance.py: the keyword matcher, and scoring papers into PaperTopic."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.models import Paper, PaperTopic, Topic
from newsletter.relevance import RELEVANCE_THRESHOLD, papers_score, topic_match, topics_rescore
from tests.factories import PaperFactory, PaperTopicFactory, TopicFactory

BLAND = "We study a method and report results on several benchmarks."


def score(keywords, title="A Study", abstract=BLAND, **kwargs):
    return topic_match(keywords=keywords, title=title, abstract=abstract, **kwargs).score


# --- Tokens and word boundaries -------------------------------------------------


def test_acronym_never_matches_inside_a_longer_word():
    assert score(["RL"], title="Fetching a URL with CURL", abstract="Parse the URL; CURL it.") == 0


def test_acronym_matches_as_a_word_and_in_its_plural():
    assert score(["RL"], title="Scaling RL to Long Videos") > RELEVANCE_THRESHOLD
    assert score(["LLM"], title="Reverse Thinking Makes LLMs Stronger Reasoners") > RELEVANCE_THRESHOLD
    assert score(["GNN"], title="Forward Learning of GNNs") > RELEVANCE_THRESHOLD



def test_an_acronyms_plural_has_a_lower_case_s_in_a_keyword_as_in_a_text():
    """A reader's or a topic's "LMs" is the acronym "LM" (three letters are enough),
    matched both ways; a capital S is the acronym's own letter: "GPS" is no plural of
    "GP" (a Gaussian process), so neither brings the other's papers."""
    assert score(["LMs"], title="Small LM Agents at Scale") > RELEVANCE_THRESHOLD
    assert score(["LM"], title="Small LMs as Agents") > RELEVANCE_THRESHOLD
    assert score(["GPS"], title="Sparse GP Regression at Scale") == 0
    assert score(["GP"], title="GPS Spoofing Detection for Drones") == 0

def test_acronym_is_case_sensitive_but_words_are_not():
    assert score(["RAG"], title="The rag and bone shop of the heart") == 0
    assert score(["rag"], title="The rag and bone shop of the heart") > 0
    assert score(["reinforcement learning"], title="REINFORCEMENT LEARNING at Scale") > 0


def test_word_forms_match_both_ways():
    assert score(["agent"], title="Self-Adaptive Agents in Realistic Environments") > RELEVANCE_THRESHOLD
    assert score(["agents"], title="An Agent That Plans") > RELEVANCE_THRESHOLD
    assert score(["diffusion models"], title="Fine-tuning a Diffusion Model") > RELEVANCE_THRESHOLD
    assert score(["diffusion model"], title="Training Diffusion Models with RL") > RELEVANCE_THRESHOLD
    assert score(["quantization"], title="Quantized Transformers Without Retraining") > RELEVANCE_THRESHOLD
    assert score(["generate images"], title="Generating Images from Text") > RELEVANCE_THRESHOLD


# --- Phrases --------------------------------------------------------------------


def test_phrase_needs_its_words_in_a_row():
    assert score(["catastrophic forgetting"], title="Catastrophic Forgetting Revisited") > 0
    assert score(
        ["catastrophic forgetting"], title="Catastrophic Failures and Forgetting in Models"
    ) == 0


def test_phrase_matches_across_hyphens_and_the_closed_compound():
    assert score(["vision-language"], title="Vision Language Models Explained") > 0
    assert score(["vision language model"], title="Towards Better Vision-Language Models") > 0
    assert score(["fine-tuning"], title="Parameter-Efficient Finetuning") > 0


def test_a_longer_keyword_claims_its_words_before_its_parts():
    match = topic_match(
        keywords=["diffusion", "diffusion model"], title="A Diffusion Model for Audio", abstract=BLAND
    )
    assert match.terms == ("diffusion model",)


def test_title_only_keywords_ignore_the_abstract():
    keywords = ["title:code"]
    assert score(keywords, title="Robust Mean Teacher", abstract="The code is available.") == 0
    assert score(keywords, title="CodeBoost: Boosting Code LLMs") > RELEVANCE_THRESHOLD
    # The prefix as an editor may type it, capitalised: still a marker, not a word.
    assert score(["Title: code"], title="Robust Mean Teacher", abstract="The code is available.") == 0
    assert score(["Title: code"], title="CodeBoost: Boosting Code LLMs") > RELEVANCE_THRESHOLD
    assert score(["NOT: code review", "code"], title="Code Review at Scale") == 0


def test_a_not_phrase_keeps_its_words_from_counting_for_the_topic():
    """"not:" names another field's term of art: "post-training quantization" is a
    compression method, not a post-training recipe."""
    keywords = ["post-training", "chat model", "not:post-training quantization"]
    gptq = topic_match(
        keywords=keywords, title="GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers",
        abstract="One-shot post-training quantisation to 3 or 4 bits per weight, with negligible accuracy loss.",
        ai_keywords=["post-training quantization"],
    )
    assert gptq.score == 0 and gptq.terms == ()
    tulu = topic_match(keywords=keywords, title="Tulu 3: Pushing Frontiers in Open Language Model Post-Training",
                       abstract=BLAND)
    assert tulu.score >= RELEVANCE_THRESHOLD and tulu.terms == ("post-training",)
    # Only the phrase's own words are claimed: the paper's other mention still counts.
    both = topic_match(keywords=keywords, title="A Study",
                       abstract="Unlike post-training quantization, our post-training recipe tunes a chat model.")
    assert both.terms == ("post-training", "chat model")
    assert both.score == score(["post-training", "chat model"], abstract="Our post-training recipe tunes a chat model.")


def test_hf_ai_keywords_count_as_abstract_evidence():
    bland = score(["catastrophic forgetting"])
    assert bland == 0
    with_ai = score(["catastrophic forgetting"], ai_keywords=["catastrophic forgetting", "replay"])
    abstract = score(["catastrophic forgetting"], abstract="It reduces catastrophic forgetting.")
    assert with_ai == abstract > 0


# --- Weights and the score ---------------------------------------------------------


def test_a_title_match_weighs_more_than_an_abstract_match():
    in_title = score(["continual learning"], title="Continual Learning at Scale")
    in_abstract = score(["continual learning"], abstract="We study continual learning at scale.")
    assert in_title > in_abstract > 0


def test_one_passing_mention_is_not_enough_but_a_title_match_is():
    assert score(["reward"], abstract="A reward is given at the end.") < RELEVANCE_THRESHOLD
    assert score(["reward"], title="Reward Models Are Hard") >= RELEVANCE_THRESHOLD


def test_repeats_add_less_and_less():
    one, two, three = (
        score(["forgetting"], abstract=" ".join(["forgetting happens."] * n)) for n in (1, 2, 3)
    )
    assert one < two < three < 1
    assert three - two < two - one
    # Two different keywords beat one keyword said twice.
    assert score(["forgetting", "replay"], abstract="forgetting and replay") > two


def test_matched_terms_come_strongest_first():
    match = topic_match(
        keywords=["replay", "catastrophic forgetting", "continual learning"],
        title="Continual Learning Without Replay Buffers",
        abstract="Continual learning suffers from catastrophic forgetting; replay helps.",
    )
    # "replay" and "continual learning" are both in the title and the abstract: a tie,
    # broken by the editor's order; the abstract-only term comes last.
    assert match.terms == ("replay", "continual learning", "catastrophic forgetting")
    assert match.score >= RELEVANCE_THRESHOLD


def test_matched_terms_are_quoted_as_the_paper_writes_them():
    """A "why" line named the editor's keyword where the paper has another form of
    it ("matched: tokenisation" over an abstract that says "tokens"): a reader
    looking for the word did not find it (a reader's walkthrough of several days).
    Each term is now the paper's own words, where it first matched."""
    def terms(keywords, title, abstract=BLAND):
        return topic_match(keywords=keywords, title=title, abstract=abstract).terms

    assert terms(["tokenisation"], "A Study", "We merge tokens before the decoder.") == ("tokens",)
    assert terms(["pretraining"], "Data Mixtures for Pre-Training") == ("pre-training",)
    assert terms(["large language model"], "Reverse Thinking Makes Large Language Models Stronger") == (
        "large language models",)
    assert terms(["LLM"], "Reverse Thinking Makes LLMs Stronger Reasoners") == ("LLMs",)
    # The title's form before the abstract's; a keyword written as the paper has it, as is.
    assert terms(["agent"], "Agents That Ask", "An agent asks before acting.") == ("agents",)
    assert terms(["tool use"], "A Study", "Tool use by agents.") == ("tool use",)


def test_no_keywords_or_no_text_scores_zero():
    assert topic_match(keywords=[], title="Anything", abstract="At all").score == 0
    assert topic_match(keywords=["  ", ""], title="Anything", abstract="").score == 0
    assert topic_match(keywords=["RL"], title="", abstract="").terms == ()


def test_scoring_is_deterministic_and_independent_of_keyword_order():
    keywords = ["reinforcement learning", "RL", "reward", "policy gradient", "PPO"]
    title = "Towards Better Alignment: Training Diffusion Models with Reinforcement Learning"
    abstract = "RL with sparse reward; policy gradient with PPO; reward shaping. RL again."
    first = topic_match(keywords=keywords, title=title, abstract=abstract)
    assert all(topic_match(keywords=keywords, title=title, abstract=abstract) == first for _ in range(5))
    reordered = topic_match(keywords=list(reversed(keywords)), title=title, abstract=abstract)
    assert reordered.score == first.score
    assert set(reordered.terms) == set(first.terms)


@settings(max_examples=60, deadline=None)
@given(
    prefix=st.text(alphabet="abcdefghijklmnopqrstuvwxyzCU", min_size=1, max_size=6),
    suffix=st.text(alphabet="abcdefghijklmnopqrstuvwxyz", max_size=6),
    abstract=st.text(alphabet=st.characters(blacklist_characters="R"), max_size=300),
)
def test_scores_stay_between_zero_and_one_and_rl_never_hides_in_words(prefix, suffix, abstract):
    hidden = f"{prefix}RL{suffix}"
    match = topic_match(keywords=["RL", "reward", "policy"], title=hidden, abstract=abstract)
    assert 0 <= match.score < 1
    assert "RL" not in match.terms


# --- Scoring papers into PaperTopic ---------------------------------------------------


@pytest.fixture
def continual(db):
    # Alone with the topics each test makes: the default topics (migration 0002)
    # are covered by tests/newsletter/test_topics.py.
    Topic.objects.all().delete()
    return TopicFactory(
        name="Continual learning",
        keywords="continual learning\ncatastrophic forgetting\nreplay",
    )


@pytest.mark.django_db
def test_papers_score_keeps_relevant_rows_with_their_terms(continual):
    relevant = PaperFactory(
        title="Beyond Not-Forgetting: Continual Learning with Backward Knowledge Transfer",
        abstract="Most continual learning methods fight catastrophic forgetting.",
    )
    passing = PaperFactory(title="Rectified Flows", abstract="Unlike replay-based methods, we ...")
    unrelated = PaperFactory(title="UniViTAR: Unified Vision Transformer", abstract=BLAND)

    papers_score(papers=[relevant, passing, unrelated])

    row = PaperTopic.objects.get(paper=relevant, topic=continual)
    assert row.source == PaperTopic.Source.AUTO
    assert row.score >= RELEVANCE_THRESHOLD
    assert row.matched_terms[0] == "continual learning"
    assert "catastrophic forgetting" in row.matched_terms
    assert not PaperTopic.objects.filter(paper__in=[passing, unrelated]).exists()


@pytest.mark.django_db
def test_papers_score_uses_hf_ai_keywords(continual):
    paper = PaperFactory(
        title="A Study of Hypernetworks", abstract=BLAND,
        ai_keywords=["catastrophic forgetting", "experience replay", "hypernetworks"],
    )
    papers_score(papers=[paper])
    assert PaperTopic.objects.get(paper=paper).matched_terms == ["catastrophic forgetting", "replay"]


@pytest.mark.django_db
def test_rescoring_updates_and_drops_automatic_rows(continual):
    paper = PaperFactory(title="Continual Learning in the Wild", abstract=BLAND)
    papers_score(papers=[paper])
    first = PaperTopic.objects.get(paper=paper)

    paper.abstract = "Continual learning without catastrophic forgetting."
    paper.save()
    papers_score(papers=[paper])
    assert PaperTopic.objects.get(paper=paper).score > first.score

    paper.title, paper.abstract = "Rectified Flows", BLAND
    paper.save()
    papers_score(papers=[paper])
    assert not PaperTopic.objects.filter(paper=paper).exists()


@pytest.mark.django_db
def test_editor_rows_survive_rescoring(continual):
    removed = PaperFactory(title="Continual Learning with Replay", abstract="catastrophic forgetting")
    added = PaperFactory(title="Rectified Flows", abstract=BLAND)
    PaperTopicFactory(paper=removed, topic=continual, score=0, source=PaperTopic.Source.EDITOR)
    PaperTopicFactory(paper=added, topic=continual, score=1.0, source=PaperTopic.Source.EDITOR,
                      matched_terms=[])

    papers_score(papers=[removed, added])
    topics_rescore(changed=continual)

    assert PaperTopic.objects.get(paper=removed).score == 0
    assert PaperTopic.objects.get(paper=removed).source == PaperTopic.Source.EDITOR
    assert PaperTopic.objects.get(paper=added).score == 1.0


@pytest.mark.django_db
def test_a_stored_why_that_went_stale_is_put_right_by_the_next_scoring(continual):
    """Whether a match was carried by the topic's examples or its description is the
    reader's "why" line: a row whose flag no longer holds (scored before the examples
    changed) is rewritten even when its score and terms come out the same."""
    paper = PaperFactory(title="Continual Learning with Replay", abstract="catastrophic forgetting")
    papers_score(papers=[paper])
    row = PaperTopic.objects.get(paper=paper)
    PaperTopic.objects.filter(pk=row.pk).update(near_examples=not row.near_examples)
    papers_score(papers=[paper])
    assert PaperTopic.objects.get(pk=row.pk).near_examples == row.near_examples


@pytest.mark.django_db
def test_rescoring_every_topic_clears_the_rows_of_a_topic_switched_off(continual):
    """`manage.py rescore_topics` after an upgrade: a topic switched off (here behind
    the admin's back) keeps no computed papers on its page or in the counts; what an
    editor chose for it stays."""

    computed = PaperFactory(title="Continual Learning at Scale")
    chosen = PaperFactory(title="Rectified Flows", abstract=BLAND)
    papers_score(papers=[computed])
    PaperTopicFactory(paper=chosen, topic=continual, score=1.0, source=PaperTopic.Source.EDITOR)
    Topic.objects.filter(pk=continual.pk).update(is_active=False)

    topics_rescore()

    assert list(PaperTopic.objects.filter(topic=continual).values_list("paper", flat=True)) == [chosen.id]


@pytest.mark.django_db
def test_rescore_topics_scores_every_paper_again_and_says_how_far_it_is(continual, monkeypatch):
    """`manage.py rescore_topics` after an upgrade of the relevance model: the papers
    get vectors and rows again, a line a chunk, and a last line saying it is done."""
    from io import StringIO

    from django.core.management import call_command

    from newsletter import embeddings

    monkeypatch.setattr("newsletter.relevance.RESCORE_CHUNK_SIZE", 2)
    papers = [PaperFactory(title=title) for title in (
        "Continual Learning at Scale", "Replay against Catastrophic Forgetting", "Rectified Flows")]
    Paper.objects.update(embedding=None)
    PaperTopic.objects.all().delete()
    out = StringIO()

    call_command("rescore_topics", stdout=out)

    assert out.getvalue().splitlines() == [
        "  2 of 3 papers re-scored", "  3 of 3 papers re-scored", "Topics re-scored."]
    assert all(embeddings.vector_unpack(p.embedding) is not None for p in Paper.objects.all())
    assert set(PaperTopic.objects.filter(topic=continual).values_list("paper", flat=True)) >= {
        papers[0].id, papers[1].id}


@pytest.mark.django_db
def test_inactive_topics_do_not_score(continual):
    TopicFactory(name="Retired", keywords="continual learning", is_active=False)
    paper = PaperFactory(title="Continual Learning at Scale")
    papers_score(papers=[paper])
    assert list(PaperTopic.objects.filter(paper=paper).values_list("topic__name", flat=True)) == [
        "Continual learning"
    ]


@pytest.mark.django_db
def test_a_topics_change_leaves_every_topics_scores_as_a_full_rescore_computes_them(continual):
    """A paper's closeness to a topic is measured against the mean over all active
    topics, so switching one topic off moves the others' evidence. Only the topic
    that changed (and the broad ones) was re-scored: the others' stored scores stayed
    measured against the topics as they were, and the topic preview of an untouched
    topic read every paper "higher" (an editor's walkthrough, 7 December 2026). The
    old paper is reached too: topic pages and the archive read any date."""
    from newsletter.services import topic_update

    diffusion = TopicFactory(name="Diffusion", description="Image generation with diffusion models.",
                             keywords="diffusion model\ntext-to-image")
    graphs = TopicFactory(name="Graph learning", description="Neural networks on graphs and molecules.",
                          keywords="graph neural network\nmessage passing")
    old = PaperFactory(title="Continual Learning Ten Years Ago", trending_date="2020-01-06")
    PaperFactory(title="Catastrophic Forgetting Today, and a Diffusion Model")
    PaperFactory(title="Message Passing for Molecules", abstract="A graph neural network for chemistry.")
    PaperFactory(title="Replay Buffers for Text-to-Image Diffusion",
                 abstract="Rehearsal keeps a diffusion model from forgetting old concepts.")
    topics_rescore()

    def stored():
        return sorted(PaperTopic.objects.filter(topic__is_active=True).values_list("topic__name", "paper__title", "score"))

    topic_update(topic=graphs, is_active=False)
    after_the_change = stored()
    topics_rescore()

    assert after_the_change == stored()
    assert {name for name, _, _ in after_the_change} == {"Continual learning", "Diffusion"}
    assert (continual.name, old.title) in {(name, title) for name, title, _ in after_the_change}
    assert PaperTopic.objects.filter(topic=diffusion).exists()


@pytest.mark.django_db
def test_a_broad_topic_follows_a_narrower_topic_that_comes_to_explain_a_paper_better(continual):
    from newsletter.services import topic_update

    TopicFactory(name="Diffusion", keywords="diffusion model\ntext-to-image")  # something else
    broad = TopicFactory(name="Machine learning", keywords="learning\nrehearsal", is_broad=True)
    continual.keywords = "catastrophic forgetting"
    continual.save()
    paper = PaperFactory(title="Rehearsal for Lifelong Learning",
                         abstract="Rehearsal of old examples helps lifelong learning.")
    papers_score(papers=[paper])
    assert PaperTopic.objects.get(paper=paper, topic=broad).score > RELEVANCE_THRESHOLD

    # Continual learning comes to match the paper's title twice: it explains the
    # paper better than the broad topic now, which leaves the paper to it.
    topic_update(topic=continual, keywords="rehearsal\nlifelong learning\ncontinual learning")

    assert PaperTopic.objects.filter(paper=paper, topic=continual).exists()
    assert not PaperTopic.objects.filter(paper=paper, topic=broad).exists()


@pytest.mark.django_db
def test_making_a_topic_broad_leaves_a_paper_to_the_narrower_topic_that_explains_it_better(continual):
    """An editor ticks "broad" on Machine learning: it is re-scored at once, and
    yields the paper Continual learning explains better (it held it as a topic
    like any other)."""
    from newsletter.services import topic_update

    TopicFactory(name="Diffusion", keywords="diffusion model\ntext-to-image")  # something else
    broad = TopicFactory(name="Machine learning", keywords="learning\nrehearsal")
    continual.keywords = "rehearsal\nlifelong learning\ncontinual learning"
    continual.save()
    paper = PaperFactory(title="Rehearsal for Lifelong Learning",
                         abstract="Rehearsal of old examples helps lifelong learning.")
    papers_score(papers=[paper])
    assert PaperTopic.objects.filter(paper=paper, topic=broad).exists()

    topic_update(topic=broad, is_broad=True)

    assert not PaperTopic.objects.filter(paper=paper, topic=broad).exists()


@pytest.mark.django_db
def test_scoring_costs_the_same_queries_for_one_paper_and_for_many(continual):
    TopicFactory(name="Diffusion", keywords="diffusion model\ntext-to-image")

    def queries(n):
        papers = [
            PaperFactory(title=f"Continual Learning of Diffusion Models {i}") for i in range(n)
        ]
        with CaptureQueriesContext(connection) as ctx:
            papers_score(papers=papers)
        return len(ctx.captured_queries)

    queries(1)  # the first scoring embeds the topics once (stored, then only read)
    assert queries(1) == queries(40)


# --- Spelling, hyphenation, inflection ---------------------------------------------


@pytest.mark.parametrize(("keyword", "title"), [
    ("quantisation", "Quantization of Large Language Models"),
    ("quantization", "Quantised weights for phones"),
    ("optimiser", "A new optimizer for transformers"),
    ("behaviour cloning", "Behavior Cloning from Videos"),
    ("low precision", "Low-Precision Training at Scale"),
    ("pretraining", "Continual Pre-training of Language Models"),
    ("pre-training", "Pretraining Data Mixtures"),
    ("sparse attention", "Sparse Attentions for Long Inputs"),
    ("analyse", "We analyze scaling"),
    ("data centre", "Scheduling Jobs in Data Centers"),
    ("dialogue", "Dialog State Tracking with LLMs"),
    ("programme synthesis", "Program Synthesis from Examples"),
    ("grey-box attacks", "Gray-Box Attacks on Vision Models"),
])
def test_british_american_hyphenated_and_inflected_forms_match(keyword, title):
    assert topic_match(keywords=[keyword], title=title, abstract="").score > 0


def test_normalising_spelling_does_not_merge_different_words():
    assert topic_match(keywords=["noise"], title="Noise in labels", abstract="").score > 0
    assert topic_match(keywords=["rise"], title="A prize for models", abstract="").score == 0
    assert topic_match(keywords=["hour"], title="Four layers", abstract="").score == 0


def test_stemming_from_many_threads_at_once_gives_the_same_stems():
    """Send workers make digests in several threads: the stemmer must not be shared."""
    from concurrent.futures import ThreadPoolExecutor

    from newsletter import relevance

    words = [f"{base}{n}ing" for n in range(3000) for base in ("quantis", "reason", "model")]
    relevance.stem.cache_clear()
    with ThreadPoolExecutor(8) as pool:
        stems = list(pool.map(relevance.stem, words))
    relevance.stem.cache_clear()
    serial = [relevance.stem(w) for w in words]
    assert stems == serial
