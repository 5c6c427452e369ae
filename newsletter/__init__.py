"""The content side: papers, topics and relevance, ingestion, editions, ranking,
the digest (newsletter/digest.py) and its delivery ledger (newsletter/delivery.py).

Modules other apps may import (tests/architecture/test_imports.py holds them to
it); everything else is this app's own."""

# due: when a reader's next digest comes (their pages say it); tallies: an erasure
# (subscribers.services) makes the editions' kept figures stale, edition_tallies_stale;
# reader_keywords: the preference forms refuse a term ranking would match in nearly
# every paper (keyword_stop_words_only).
PUBLIC_MODULES = ("models", "due", "tallies", "reader_keywords")
