"""Tools beside the product (STYLE.md §14): the digest benchmark (`make bench`,
bench/digests.py) and the load test of the public pages (`make loadtest`,
bench/loadtest.py). Nothing in the apps imports this package, and it uses their
public functions only (tests/architecture/test_imports.py)."""
