"""Tampering with a signed token or link in a way that always changes it."""


def signature_changed(text: str, *, tail: str = "") -> str:
    """`text` (a signed token or link ending in `tail`) with the two characters before
    `tail` changed, each to another one. Putting fixed characters there ("AA", "xx")
    left a signature that already ended in them as it was: a test that failed one run
    in 4,096."""
    assert text.endswith(tail), (text, tail)
    end = len(text) - len(tail)
    return text[:end - 2] + "".join("B" if c == "A" else "A" for c in text[end - 2:end]) + tail
