"""`{% digest_cut "card" p.id %}`: where a digest template may be cut into pieces.

Outside a proof render it prints nothing, so a reader's email never carries it.
In a proof render (newsletter/digest_render.py) it prints a marker the renderer
cuts at: an HTML comment, which MRML keeps in place through mjml2html (between
components and inside an mj-text alike) and the CSS inliner keeps too; the same
text in the plain-text part."""

import secrets

from django import template
from django.utils.safestring import mark_safe

register = template.Library()

# The context key of a proof render: "mjml" or "text".
PROOF_KEY = "digest_proof"
# Random per process, in every marker and slot of a proof (digest_render.py): text of
# a paper or of the editor's note goes into the proof as it is (the plain-text part
# unescaped), and with fixed markers "@@dpd:manage_url@@" in a paper's code link put
# each reader's manage link there, "@@dpd:nope@@" in a title failed the edition, and
# a cut marker in a title cut the text part wrong. Nobody can write one they cannot see.
MARK = secrets.token_hex(8)


def cut_marker(name: str) -> str:
    return f"<!--dpd{MARK}-cut:{name}-->"


@register.simple_tag(takes_context=True)
def digest_cut(context, name: str, key: object = "") -> str:
    proof = context.get(PROOF_KEY)
    if not proof:
        return ""
    return mark_safe(cut_marker(f"{name}:{key}" if key != "" else name))
