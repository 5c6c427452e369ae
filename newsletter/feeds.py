"""Atom feeds of the papers, with Django's syndication framework:
all papers at /feeds/papers.atom, one topic's at /feeds/topics/<slug>.atom."""

from __future__ import annotations

import datetime as dt
import re

from django.contrib.syndication.views import Feed
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import escape

from .archive import paper_list_for_feed
from .models import Paper, Topic

# What XML 1.0 has no place for (its Char production): the C0 controls but tab, line
# feed and carriage return, and U+FFFE/U+FFFF. The Daily Papers data can hold them (a
# form feed pasted from a PDF into an abstract); Django's writer refuses the first
# (a 500 for every feed holding the paper) and writes the others, which readers refuse.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_safe(value):
    if isinstance(value, str):
        return _NOT_XML.sub("", value)
    if isinstance(value, list | tuple):
        return [_xml_safe(v) for v in value]
    return value


class XmlSafeAtom1Feed(Atom1Feed):
    """An Atom feed that leaves out of every text it writes the characters XML 1.0
    does not allow, whatever the paper, topic or feed they come from."""

    def write(self, outfile, encoding):
        self.feed = {name: _xml_safe(value) for name, value in self.feed.items()}
        self.items = [{name: _xml_safe(value) for name, value in item.items()} for item in self.items]
        super().write(outfile, encoding)


class PapersFeed(Feed):
    feed_type = XmlSafeAtom1Feed
    title = "Daily Papers Digest: trending AI papers"
    subtitle = "The papers trending on Hugging Face Daily Papers, newest first."
    author_name = "Daily Papers Digest"

    def link(self) -> str:
        return reverse("newsletter_public:edition_list")

    def items(self):
        return paper_list_for_feed()

    def item_title(self, item: Paper) -> str:
        return item.title

    def item_description(self, item: Paper) -> str:
        # Django writes the Atom summary as type="html", which a feed reader reads as
        # HTML: the plain text is escaped into it, or an abstract's "$k<n$" opens a tag
        # that swallows the text after it (and "<a href>" in the data is a link).
        return escape(item.ai_summary or item.abstract)

    def item_link(self, item: Paper) -> str:
        # The paper's page here, which links to everything the data has.
        return item.get_absolute_url()

    def item_guid(self, item: Paper) -> str:
        # Stable whatever the paper's links become; not a URL, so not a permalink.
        return f"daily-papers-digest:paper:{item.arxiv_id or item.pk}"

    item_guid_is_permalink = False

    def item_pubdate(self, item: Paper) -> dt.datetime:
        # The day it trended: the date readers of the feed care about.
        return dt.datetime.combine(item.trending_date, dt.time.min, tzinfo=dt.UTC)

    # Atom requires an entry's updated (RFC 4287, 4.1.2), and Django writes it only
    # from this: the same day. Not Paper.updated_at, which each refetch of the day's
    # upvotes moves on, and readers would show every entry as changed.
    item_updateddate = item_pubdate

    def item_author_name(self, item: Paper) -> str | None:
        # None for a paper that names nobody: Django writes "" as an author of no
        # name; without one, the entry's author is the feed's (RFC 4287, 4.2.1).
        return item.byline or None

    def item_categories(self, item: Paper) -> list[str]:
        # Its chips, as on its card and in the digest: the topics it is about, not
        # every topic it passes for (relevance.topics_about); it is in each of
        # those topics' feeds all the same.
        return item.chip_names


class TopicPapersFeed(PapersFeed):
    def get_object(self, request, slug: str) -> Topic:
        return get_object_or_404(Topic, slug=slug, is_active=True)

    def title(self, obj: Topic) -> str:
        return f"Daily Papers Digest: {obj.name}"

    def feed_guid(self, obj: Topic) -> str:
        # Its own, in the style of the entries' ids: Django's default, the link, is
        # the archive's address, which every topic's feed shared with the papers feed.
        # By key, as the entries are: an editor may rename the topic.
        return f"daily-papers-digest:topic:{obj.pk}"

    def subtitle(self, obj: Topic) -> str:
        return obj.description or f"Trending AI papers about {obj.name}."

    def items(self, obj: Topic):
        return paper_list_for_feed(topic=obj)
