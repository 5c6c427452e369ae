"""A paper a reader may see is one rule, `selectors.paper_visible_q` (PAPER_VISIBLE):
not hidden by an editor, not withdrawn by its authors. Until 7 December it was spelt
out again in five queries (the edition's papers, the digest's candidates, the
archive's list and its counts, the demo reader's topics): a condition added to the
rule would have been missed by each of them."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_rule_of_a_paper_readers_may_see_is_spelt_out_in_one_place():
    spelt = sorted(
        f"{path.relative_to(ROOT)}:{number}"
        for package in ("config", "newsletter", "subscribers", "mail")
        for path in (ROOT / package).rglob("*.py") if "migrations" not in path.parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if "withdrawn_at__isnull" in line
    )
    assert spelt and {where.split(":")[0] for where in spelt} == {"newsletter/selectors.py"}, spelt
