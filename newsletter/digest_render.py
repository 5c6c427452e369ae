"""Rendering many readers' digests of one edition: the templates, mjml2html and the
CSS inliner run once per edition and process, not once per reader.

Every reader's digest is made of the same pieces: the edition's header and note, one
card per chosen paper, the "also trending" block, the footer. Only a few values
differ from reader to reader — the preheader, each card's reason, topic chips and
feedback links, the picture of their first pick, their own links and schedule in the
footer, the subject. So:

1. A *proof* is rendered once: the real digest templates (emails/digest.mjml and
   .txt) with every candidate paper as a card and as an also-trending item, and a
   slot (`@@dpd<MARK>:NAME@@`, MARK random per process) wherever a reader's own value goes. `{% digest_cut %}`
   (templatetags/digest_cuts.py) marks where the output may be cut; the MJML is
   compiled and its CSS inlined like any email (mail/rendering.py).
2. The proof is cut into named pieces ("head", "card:ID", "also", "also:ID",
   "footer", ...), each compiled to its literal parts and slot names.
3. A reader's email is the join of their pieces with their values put in the slots,
   escaped exactly as the inliner's HTML serialiser escapes text and attributes.

The result is the same, byte for byte, as rendering that reader's context through
`email_render` (tests/newsletter/test_digest_render.py holds the two paths equal,
hostile characters included). newsletter/digest.py chooses between them. A proof is cached per process by the content it was made from, so an editor's
change to a paper or the note makes a new one."""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass

from django.template.loader import get_template

from mail.rendering import RenderedEmail, email_base_context, mjml_to_html, subject_clean, text_tidy

from .templatetags.digest_cuts import MARK, PROOF_KEY

TEMPLATE = "digest"
# Markers carry the process's random MARK (templatetags/digest_cuts.py): a paper's
# text that spells a marker is text, never a slot or a cut.
_CUT = re.compile(rf"<!--dpd{MARK}-cut:([\w:-]+)-->")
_SLOT = re.compile(rf"@@dpd{MARK}:(\w+)@@")
# The card's chips: a space then one <span class="chip" style=...> per topic, made
# from the one the proof rendered (its inlined style included). The space is the
# template's (emails/digest.mjml): read without styles, or aloud, a chip is a word
# apart from the "why" line and from the next chip.
_CHIP = re.compile(rf' (<span class="chip"[^>]*>)@@dpd{MARK}:topics@@</span>')
# The first pick's picture (emails/digest.mjml): the proof renders one for every
# paper that has one; a reader's lead card gets its paper's, the others none.
_PICTURE = re.compile(r'<a class="picture"[^>]*>.*?</a>', re.DOTALL)
# Proofs kept per process: a worker sends one or two editions a day (daily, weekly).
_PROOFS_KEPT = 8


def slot(name: str) -> str:
    return f"@@dpd{MARK}:{name}@@"


# Per paper, the keys whose value is the reader's own (a slot in the proof).
PAPER_SLOTS = ("n", "reason", "topics", "topics_line", "more_url", "less_url")
# Per email, likewise.
EMAIL_SLOTS = (
    "summary", "preheader", "picked_heading", "also_heading", "picked_title", "also_title", "view_in_browser_url",
    "manage_url", "unsubscribe_url", "schedule",
)


def _html_text(value: str) -> str:
    """As html5ever serialises text (the inliner re-serialises the whole document)."""
    return (
        value.replace("&", "&amp;").replace("\xa0", "&nbsp;").replace("<", "&lt;").replace(">", "&gt;")
    )


def _html_attr(value: str) -> str:
    """As html5ever serialises an attribute value."""
    return value.replace("&", "&amp;").replace("\xa0", "&nbsp;").replace('"', "&quot;")


@dataclass(frozen=True)
class _Piece:
    parts: tuple[str, ...]  # literal, slot name, literal, slot name, ..., literal

    @classmethod
    def compile(cls, text: str) -> _Piece:
        return cls(tuple(_SLOT.split(text)))


def _cut(output: str) -> dict[str, str]:
    """{"head": ..., "papers": ..., "card:12": ..., ...} in document order."""
    names = ["head", *_CUT.findall(output)]
    return OrderedDict(zip(names, _CUT.split(output)[::2], strict=True))


def _compile(pieces: dict[str, str]) -> dict[str, _Piece]:
    return OrderedDict((name, _Piece.compile(text)) for name, text in pieces.items())


def _pictures_cut(pieces: dict[str, str]) -> dict[int, str]:
    """Each card's picture, as the proof rendered it, replaced by a slot in its card:
    {paper id: the picture's HTML}."""
    pictures: dict[int, str] = {}
    for name, text in pieces.items():
        if name.startswith("card:"):
            found = _PICTURE.search(text)
            if found:
                pictures[int(name.split(":", 1)[1])] = found.group(0)
                pieces[name] = text[: found.start()] + slot("picture") + text[found.end():]
    return pictures


@dataclass(frozen=True)
class DigestProof:
    html: dict[str, _Piece]
    text: dict[str, _Piece]
    chip_open: str  # the inlined <span class="chip" ...> of a topic chip
    pictures: dict[int, str]  # paper id -> its inlined picture, for a reader's lead card

    def render(self, context: dict) -> RenderedEmail:
        """One reader's digest from their context (digest.digest_context's shape),
        which has at least one paper: an empty digest is never sent."""
        if not context["papers"] and not context["also_trending"]:
            raise ValueError("a digest with no paper is not rendered from a proof")
        order = ["head"]
        paper_values: dict[str, dict] = {}
        # Each block: its opening piece, one piece per paper, its closing piece.
        for key, opening, item, closing in (
            ("papers", "papers", "card", "between"), ("also_trending", "also", "also", "also-end"),
        ):
            if context[key]:
                order.append(opening)
                for p in context[key]:
                    order.append(f"{item}:{p['id']}")
                    paper_values[order[-1]] = p
            if closing == "between" or context[key]:
                order.append(closing)
        order.append("footer")
        html = self._assemble(self.html, order, context, paper_values, html=True)
        text = self._assemble(self.text, order, context, paper_values, html=False)
        return RenderedEmail(
            subject=subject_clean(context["subject"]),
            text=text_tidy(text),
            html=html,
        )

    def _assemble(self, pieces, order, context, paper_values, *, html: bool) -> str:
        out: list[str] = []
        for name in order:
            parts = pieces[name].parts
            out.append(parts[0])
            if len(parts) == 1:
                continue
            values = paper_values.get(name, context)
            for i in range(1, len(parts), 2):
                out.append(self._value(parts[i], values, context, html=html))
                out.append(parts[i + 1])
        return "".join(out)

    def _value(self, name: str, values: dict, context: dict, *, html: bool) -> str:
        if name == "chips":
            return "".join(f" {self.chip_open}{_html_text(t)}</span>" for t in values["topics"])
        if name == "picture":
            return self.pictures[values["id"]] if values["lead"] and values["picture_url"] else ""
        value = str(values[name] if name in values else context[name])
        if not html:
            return value
        return _html_attr(value) if name.endswith("_url") else _html_text(value)


def _proof_context(context: dict) -> dict:
    """The context of a proof: every key a reader's value goes in is a slot."""
    proof = {**email_base_context(), **context}
    for key in EMAIL_SLOTS:
        proof[key] = slot(key)
    # A paper with no topic at all shows none to anyone: its chips line is left out.
    proof["papers"] = [
        {**p, **{k: slot(k) for k in PAPER_SLOTS}, "topics": [slot("topics")] if p["topics"] else [],
         "lead": True}
        for p in context["papers"]
    ]
    # Every also-trending item's topics are the reader's (a closest paper names the
    # reader's topic it is near, which no proof can know).
    proof["also_trending"] = [{**p, "topics_line": slot("topics_line")} for p in context["also_trending"]]
    return proof


def _proof_render(context: dict) -> DigestProof:
    proof = _proof_context(context)
    source = get_template(f"emails/{TEMPLATE}.mjml", using="django").render(
        {**proof, PROOF_KEY: "mjml"}
    )
    html_out = mjml_to_html(source, keep_comments=True)
    chip = _CHIP.search(html_out)
    chip_open = chip.group(1) if chip else '<span class="chip">'
    html_out = _CHIP.sub(slot("chips"), html_out)
    text_out = get_template(f"emails/{TEMPLATE}.txt", using="text").render({**proof, PROOF_KEY: "text"})
    html_pieces = _cut(html_out)
    pictures = _pictures_cut(html_pieces)
    return DigestProof(html=_compile(html_pieces), text=_compile(_cut(text_out)), chip_open=chip_open,
                       pictures=pictures)


_proofs: OrderedDict[str, DigestProof] = OrderedDict()


def digest_proof(*, context: dict) -> DigestProof:
    """The proof for a context of `digest.digest_proof_context` (every candidate
    paper, no reader): made once per process and content."""
    # The key covers the site-wide values the proof shows too (site URL, address).
    content = {**email_base_context(), **context}
    key = hashlib.sha256(repr(sorted(content.items(), key=lambda kv: kv[0])).encode()).hexdigest()
    proof = _proofs.get(key)
    if proof is None:
        proof = _proofs[key] = _proof_render(context)
        while len(_proofs) > _PROOFS_KEPT:
            _proofs.popitem(last=False)
    else:
        _proofs.move_to_end(key)
    return proof
