"""How PostgreSQL plans what an admin page reads, for the tests marked `postgresql`
that a page stays fast at scale (docs/benchmarks.md, "The admin at scale")."""

from django.db import connection
from django.test.utils import CaptureQueriesContext


def query_plan(sql: str, *, ordered: bool = True) -> str:
    """EXPLAIN of `sql` (a query as CaptureQueriesContext caught it), planned as at
    scale: no whole-table scan or sort where an index gives the rows in order, and
    no bitmap of a whole range where the index alone answers. `ordered=False`: its
    ORDER BY and LIMIT left out, to see which index finds the rows of a search that
    at scale sorts the few it finds (the readers of an address), where, with sorts
    off and no statistics, the planner walks an index in the list's order instead
    (subscriber_created_idx) and filters."""
    with connection.cursor() as cursor:
        # What earlier tests left in the planner's statistics (a benchmark's 100,000
        # rows, analysed, then rolled back) changed these plans in a whole run, and
        # not when the test ran alone: the tables are planned as never analysed, in
        # this test's transaction only (rolled back with it). Their pages all visible,
        # as autovacuum keeps a large table: with none visible, an index-only scan cost
        # a heap visit per row like any other, and which of two indexes on the same
        # first column was taken (delivery_edition_status_idx, which holds the status
        # counted, or delivery_edition_reader_idx, which does not) followed the
        # tables' sizes on disk, so the run's order again.
        cursor.execute("UPDATE pg_class SET reltuples = -1, relpages = 0, relallvisible = 2147483647 "
                       "WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'i')")
        cursor.execute("DELETE FROM pg_statistic WHERE starelid IN "
                       "(SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        sql = sql if ordered else sql.split(" ORDER BY ")[0]
        cursor.execute("EXPLAIN " + sql.replace("%", "%%"))
        return "\n".join(row[0] for row in cursor.fetchall())


def list_query_plan(client, url: str, table: str, *, ordered: bool = True) -> str:
    """EXPLAIN of the query the admin's list `url` reads its rows of `table` with
    (the one in the list's order), planned as query_plan does."""
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    page = next(q["sql"] for q in queries if f'FROM "{table}"' in q["sql"] and f'ORDER BY "{table}".' in q["sql"])
    return query_plan(page, ordered=ordered)
