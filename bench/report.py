"""The benchmark's report: the Markdown tables printed and written to
var/bench/results.md, and the plots (matplotlib, from the `bench` extra; without
it the tables are still written). docs/benchmarks.md quotes them."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def percentile(values: Sequence[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def machine_describe() -> str:
    cores = os.cpu_count() or 0
    try:
        kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:"))
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration):
        memory = "unknown memory"
    return f"{cores} cores, {memory}, Python {sys.version.split()[0]}"


def costs_describe(row: dict) -> str:
    """Counted costs per digest: of a send phase (bench/phases.py, _costs_counter)
    or of the Celery workers (bench/workers.py, process_costs)."""
    text = (f"worker CPU {1000 * row['user_seconds_per_digest']:.2f} ms user + "
            f"{1000 * row['system_seconds_per_digest']:.2f} ms system, "
            f"{row['voluntary_switches_per_digest']:.1f} voluntary / "
            f"{row['involuntary_switches_per_digest']:.1f} involuntary context switches")
    if "redis_seconds_per_digest" in row:
        text += f", Redis server CPU {1000 * row['redis_seconds_per_digest']:.2f} ms"
    return text


def report_table(results: dict) -> str:
    """The Markdown table printed and written to var/bench/results.md."""
    lines = [
        (f"Database: {results.get('database', '?')} · machine: {results['machine']} · "
         f"papers: {results.get('papers', '?')}"),
        "",
        ("| N | sent | digests/s | ms/digest p50 | p95 | mean | SQL/batch | peak RSS MB | wall s "
         "| render floor ms | path / floor | django-newsletter ms/email | path / d-n |"),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, row in sorted(results["sizes"].items(), key=lambda kv: int(kv[0])):
        path = row["path"]
        dnl = row.get("django_newsletter")
        queries = (str(path["queries_per_batch_max"]) if path["queries_per_batch_min"] == path["queries_per_batch_max"]
                   else f"{path['queries_per_batch_min']}–{path['queries_per_batch_max']}")
        dnl_ms = f"{dnl['ms_per_email']:.2f}" if dnl else "—"
        ratio_dnl = f"{path['ms_mean'] / dnl['ms_per_email']:.2f}×" if dnl else "—"
        lines.append(
            f"| {int(n):,} | {path['sent']:,} | {path['digests_per_second']:,.0f} | {path['ms_p50']:.2f} "
            f"| {path['ms_p95']:.2f} | {path['ms_mean']:.2f} | {queries} | {path['peak_rss_mb']:.0f} "
            f"| {path['wall_seconds']:.1f} | {path['floor_ms']:.2f} "
            f"| {path['ms_mean'] / path['floor_ms']:.2f}× | {dnl_ms} | {ratio_dnl} |"
        )
    counted = [(n, row["path"]) for n, row in sorted(results["sizes"].items(), key=lambda kv: int(kv[0]))
               if "user_seconds_per_digest" in row["path"]]
    if counted:
        lines += ["", "Counted per digest, which the machine's noise moves far less than the times above:"]
        lines += [f"- N = {int(n):,}: {costs_describe(path)}" for n, path in counted]
    celery = results.get("celery")
    if celery:
        lines += [
            "",
            (f"Celery, 2 worker processes: {celery['sent']:,} of {celery['subscribers']:,} readers' "
             f"digests sent in {celery['wall_seconds']:.1f} s from dispatch to the last ledger row "
             f"({celery['digests_per_second']:,.0f} digests/s; dispatch {celery['dispatch_seconds']:.1f} s); "
             f"worker peak RSS {celery['worker_peak_rss_mb']:.0f} MB."),
        ]
        if "user_seconds_per_digest" in celery:
            lines += ["", f"Counted per digest, the Celery workers together: {costs_describe(celery)}."]
    esp = results.get("esp")
    if esp:
        lines += ["", esp_table(esp)]
    first = next(iter(results["sizes"].values()), None)
    if first:
        p = first["path"]
        lines += [
            "",
            (f"Render floor: the median of {p.get('floor_digests', 1)} readers' digests "
             f"({p.get('floor_papers_min', p['papers_in_digest'])}–"
             f"{p.get('floor_papers_max', p['papers_in_digest'])} papers each). "
             f"Render steps of the median one ({p['papers_in_digest']} papers, {p['html_kb']:.0f} KB HTML), "
             f"median ms: Django template → MJML {p['mjml_template_ms']:.2f}, mjml2html "
             f"{p.get('typical_floor_ms', p['floor_ms']):.2f}, CSS inlining {p['css_inline_ms']:.2f}; email_render "
             f"(3 templates + both) {p['email_render_ms']:.2f}; assembled from the edition's "
             f"proof (what the path does) {p.get('assemble_ms', 0):.2f}."),
        ]
    return "\n".join(lines) + "\n"


def _fmt(value, spec: str = ".0f") -> str:
    return "—" if value is None else format(value, spec)


def esp_table(esp: dict) -> str:
    rows = esp["rows"]
    base = next((r for r in rows if r["latency_ms"] == 0 and not r["rate"]), None)
    lines = [
        (f"Against a latent ESP: {esp['subscribers']:,} readers through {esp['processes']} Celery "
         f"worker processes ({esp['pool']} pool), dispatch to the last ledger row; anymail's real "
         "Postmark backend against the fake Postmark (1 % of calls 5× slower)."),
        "",
        ("| ESP | sent | wall s | digests/s | × 0 ms | provider call p50 ms | p99 ms "
         "| ESP max calls/s | ESP max in flight | 429s | worker peak RSS MB |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = (f"{r['digests_per_second'] / base['digests_per_second']:.2f}×"
                 if base and r["latency_ms"] is not None and not r["rate"] else "—")
        lines.append(
            f"| {r['label']} | {r['sent']:,} | {r['wall_seconds']:.1f} | {r['digests_per_second']:,.0f} "
            f"| {ratio} | {_fmt(r['call_p50_ms'])} | {_fmt(r['call_p99_ms'])} "
            f"| {_fmt(r['esp_max_per_second'], 'd')} | {_fmt(r['esp_max_in_flight'], 'd')} "
            f"| {_fmt(r['esp_throttled'], 'd')} "
            f"| {r['worker_peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def esp_plot(esp: dict, path: Path) -> Path | None:
    """Digests per second and p99 provider call against the ESP's latency."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = [r for r in esp["rows"] if r["latency_ms"] is not None and not r["rate"]]
    test = next((r for r in esp["rows"] if r["latency_ms"] is None), None)
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    latencies = [r["latency_ms"] for r in rows]
    ax.plot(latencies, [r["digests_per_second"] for r in rows], "o-", label="digests/s (fake Postmark)")
    base = rows[0]["digests_per_second"] if rows[0]["latency_ms"] == 0 else None
    if base:
        ax.axhline(0.8 * base, color="gray", linestyle=":", label="0.8 × the 0 ms figure")
    if test:
        ax.axhline(test["digests_per_second"], color="green", linestyle="--",
                   label="anymail test backend (no HTTP)")
    ax.set_xlabel("ESP latency (ms; 1 % of calls 5× slower)")
    ax.set_ylabel("digests per second")
    ax.set_ylim(bottom=0)
    ax2 = ax.twinx()
    ax2.plot(latencies, [r["call_p99_ms"] or 0 for r in rows], "s--", color="tab:red",
             label="p99 provider call (ms)")
    ax2.set_ylabel("p99 provider call (ms)", color="tab:red")
    ax2.set_ylim(bottom=0)
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + ax2.get_legend_handles_labels()[1]
    ax.legend(handles, labels, loc="lower left", fontsize=8)
    ax.set_title(f"{esp['subscribers']:,} digests, {esp['processes']} Celery worker processes")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def report_plot(results: dict, path: Path) -> Path | None:
    """Time against N for each contender, log axes."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    sizes = sorted(int(n) for n in results["sizes"])
    rows = [results["sizes"][n] if n in results["sizes"] else results["sizes"][str(n)] for n in sizes]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    ax.plot(sizes, [r["path"]["wall_seconds"] for r in rows], "o-", label="digest path, 1 process")
    ax.plot(sizes, [n * r["path"]["floor_ms"] / 1000 for n, r in zip(sizes, rows, strict=True)],
            "s--", label="render floor (mjml2html × N)")
    dnl = [(n, r["django_newsletter"]) for n, r in zip(sizes, rows, strict=True) if r.get("django_newsletter")]
    if dnl:
        ax.plot([n for n, _ in dnl], [d["seconds"] for _, d in dnl], "^-", label="django-newsletter, 1 process")
    celery = results.get("celery")
    if celery:
        ax.plot([celery["subscribers"]], [celery["wall_seconds"]], "D", markersize=9,
                label="digest path, Celery (2 workers)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("subscribers (N)")
    ax.set_ylabel("wall time (s)")
    ax.set_title("Sending one day's digest")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path

