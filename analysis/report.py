"""One self-contained HTML report of a study: collapse maps, sensitivity, baselines, best samples.

    python analysis/report.py RESULTS_DIR [--baselines DIR] [--metric healthy_coverage] [--out report.html]

Images and audio are inlined (base64), so the file reads offline and travels alone.
"""
from __future__ import annotations

import base64
import html
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling analysis scripts

import baselines as baselines_table  # noqa: E402
import best_samples  # noqa: E402
import collapse_map  # noqa: E402
import sensitivity  # noqa: E402

from mgen.errors import UserError, run_cli  # noqa: E402
from mgen.metrics.registry import direction  # noqa: E402
from mgen.results import analysis_parser, load_study  # noqa: E402

STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
img{max-width:100%;border:1px solid #ddd;margin:.4em 0}table{border-collapse:collapse;font-size:12px}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}h2{border-bottom:1px solid #ccc}
.note{color:#666;font-size:13px}.warning{color:#a40000;background:#fff0f0;padding:.4em}"""


def image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def audio(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<audio controls src="data:audio/wav;base64,{data}"></audio>'


def section(title: str, body: str) -> str:
    return f"<h2>{html.escape(title)}</h2>\n{body}\n"


def build(results: str, out: Path, metric: str = "healthy_coverage", baselines: str | None = None) -> Path:
    study = load_study(results, metrics_for_best=(metric,))
    work = Path(tempfile.mkdtemp(prefix="mgen-report-"))
    parts = [f"<h1>Study {html.escape(Path(results).name)}</h1>",
             f'<p class="note">{len(study.trials)} trials from {html.escape(str(results))}; '
             f"{int(study.trials['collapsed'].sum())} collapsed at their last report, "
             f"{int(study.trials.get('failed', study.trials['diverged']).fillna(0).sum())} failed to train "
             f"({int(study.trials['diverged'].sum())} of them diverged). Study metric: {html.escape(metric)} "
             f"({'higher' if direction(metric) == 'max' else 'lower'} is better).</p>"]
    try:
        files = collapse_map.run(results, work, list(dict.fromkeys([metric, "diversity", "collapsed", "failed"])))
        parts.append(section("Collapse maps", "".join(image(f) for f in files if f.suffix == ".png")))
    except UserError as exc:
        parts.append(section("Collapse maps", f"<p>{html.escape(str(exc))}</p>"))
    try:
        files = sensitivity.run(results, work, metric, baselines)
        table = (work / f"importance_{metric}.csv").read_text().strip().splitlines()
        rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in line.split(",")) + "</tr>" for line in table)
        parts.append(section("Hyperparameter sensitivity", f"<table>{rows}</table>"
                             + "".join(image(f) for f in files if f.suffix == ".png")))
    except UserError as exc:
        parts.append(section("Hyperparameter sensitivity", f"<p>{html.escape(str(exc))}</p>"))
    try:
        files = baselines_table.run(results, work, metric, baselines)
        table, _ = baselines_table.comparison(
            __import__("pandas").concat([study.trials] + ([load_study(baselines).trials] if baselines else [])),
            metric)
        parts.append(section("GAN vs baselines", table.round(4).to_html(index=False) + image(work / "baselines.png")))
    except UserError as exc:
        parts.append(section("GAN vs baselines", f"<p>{html.escape(str(exc))}</p>"))
    samples = best_samples.run(results, work / "samples", metric, n=16)
    body = (f"<p>Trial {html.escape(str(samples['trial_id']))} ({html.escape(metric)} = {samples['value']:.4f}); "
            f"checkpoint {html.escape(str(samples['checkpoint']))}.</p>"
            + (f'<p class="warning"><b>Warning:</b> {html.escape(samples["warning"])}</p>' if samples.get("warning") else "")
            + image(work / "samples" / "samples.png"))
    wavs = sorted((work / "samples").glob("*.wav"))
    if wavs:
        body += f"<p>Audio ({html.escape(samples.get('renderer', ''))} rendering):</p>" + audio(wavs[0])
    parts.append(section("Best samples", body))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>mgen report</title>"
                   f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
    return out


def main(argv=None) -> int:
    p = analysis_parser(__doc__, "out/report.html")
    args = p.parse_args(argv)
    return run_cli("report", lambda: direction(args.metric) and print(
        f"wrote {build(args.results, Path(args.out), args.metric, args.baselines)}"))


if __name__ == "__main__":
    sys.exit(main())
