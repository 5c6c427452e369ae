"""`{% digest_cut "card" p.id %}`: where a digest template may be cut into pieces.

Outside a proof render it prints nothing, so a reader's email never carries it.
In a proof render (newsletter/digest_render.py) it prints a marker the renderer
cuts at: an HTML comment, which MRML keeps in place through mjml2html (between
components and inside an mj-text alike) and the CSS inliner keeps too; the same
text in the plain-text part."""

from django import template
from django.utils.safestring import mark_safe

register = template.Library()

# The context key of a proof render: "mjml" or "text".
PROOF_KEY = "digest_proof"


def cut_marker(name: str) -> str:
    return f"<!--dpd-cut:{name}-->"


@register.simple_tag(takes_context=True)
def digest_cut(context, name: str, key: object = "") -> str:
    proof = context.get(PROOF_KEY)
    if not proof:
        return ""
    return mark_safe(cut_marker(f"{name}:{key}" if key != "" else name))
