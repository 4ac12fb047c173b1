"""The report: ``report.html`` (the executed 03_compare and 04_embeddings notebooks without code) and the provenance
table of ``results/README.md``, rendered from what the runs wrote (``timing.json``, ``run_info.json``)
so no number in it is typed by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlsearch.io import read_json, write_text

BEGIN = "<!-- provenance:begin (written by mlsearch.report.update_results_readme) -->"
END = "<!-- provenance:end -->"
README_HEAD = "# Results\n\nOne folder per `<source>/<profile>`; see the repository README.\n\n"


def provenance_markdown(root: str | Path) -> str:
    """What produced a result set, in plain words (from its timing records and run folders)."""
    root = Path(root)
    lines = []
    for name, what in (("timing.json", "The language grid"), ("timing-baselines.json", "Baselines and ablations"),
                       ("timing-pretrained.json", "Kinds from the whole pretrained encoder")):
        path = root / name
        if not path.is_file():
            continue
        f = _timing_fields(read_json(path))
        seeds = f["seeds"].replace(",", ", ") or "—"
        wall = (f["wall_minutes"].replace(" in ", " min in ") if " in " in f["wall_minutes"] else f"{f['wall_minutes']} min") if f["wall_minutes"] else "—"
        lines.append(f"- **{what}**: profile `{root.name}`, source `{root.parent.name}`, seeds {seeds}; "
                     f"`{f['command'] or '—'}` on {f['machine'] or '—'}, {f['date'] or '—'}, wall time {wall}.")
    if not lines:
        infos = [read_json(p) for p in sorted((root / "runs").rglob("run_info.json"))]
        dates = sorted(str(i.get("date", ""))[:10] for i in infos if i.get("date"))
        devices = sorted({str(i.get("device")) for i in infos if i.get("device")})
        lines.append(f"- profile `{root.name}`, source `{root.parent.name}`: {len(infos)} runs on "
                     f"{', '.join(devices) or '—'}, {dates[-1] if dates else '—'} (no timing record: not run by the grid).")
    return "**Provenance.**\n\n" + "\n".join(lines) + "\n"


def show(df, digits: int = 3):
    """A table for a report: numbers rounded, "—" where nothing was measured, no index column."""
    return df.style.format(precision=digits, na_rep="—").hide(axis="index")


def render_report_html(executed: str | Path | list[str | Path], out: str | Path) -> Path:
    """Executed notebook(s), one after the other, as HTML without code cells or prompts."""
    import nbformat
    from nbconvert import HTMLExporter

    paths = executed if isinstance(executed, list) else [executed]
    nb = nbformat.read(str(paths[0]), as_version=4)
    for more in paths[1:]:
        nb.cells += nbformat.read(str(more), as_version=4).cells
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
    return write_text(out, body)


def result_sets(results_dir: str | Path) -> list[dict[str, Any]]:
    """One record per ``<source>/<profile>`` folder holding runs: how, where and when it was produced.

    One row per grid record (``timing.json``, ``timing-baselines.json``, ``timing-pretrained.json``) when the grid wrote one, else
    one from the runs' ``run_info.json`` (command unknown).
    """
    results_dir = Path(results_dir)
    records = []
    roots = [p for p in results_dir.glob("*/*") if p.is_dir() and ((p / "runs").is_dir() or any(p.glob("timing*.json")))]
    for root in sorted(roots):
        infos = [read_json(p) for p in sorted((root / "runs").rglob("run_info.json"))]
        complete = _count_runs(root / "runs", root / "tables" / "f1.csv", ["kind", "model", "seed"])
        devices = sorted({str(i.get("cuda") or i["device"]) for i in infos if i.get("device")})
        dates = sorted(str(i["date"]) for i in infos if i.get("date"))
        rec: dict[str, Any] = {
            "source": root.parent.name,
            "profile": root.name,
            "runs": complete,
            "command": "",
            "seeds": "",
            "machine": ", ".join(devices),
            "date": dates[-1][:10] if dates else "",
            "wall_minutes": "",
        }
        timings = sorted(root.glob("timing*.json"), key=lambda p: (p.name != "timing.json", p.name))
        for timing_path in timings or [None]:
            row = dict(rec)
            if timing_path is not None:
                row.update(_timing_fields(read_json(timing_path)))
            records.append(row)
        study = root / "study"
        if (study / "timing.json").is_file():  # the study (mlsearch.study) of this profile
            n = _count_runs(study / "runs", study / "tables" / "runs.csv", ["point", "kind", "model", "seed"])
            records.append(dict(rec, profile=f"{root.name} (study)", runs=n) | _timing_fields(read_json(study / "timing.json")))
    return records


def _count_runs(runs: Path, table: Path, keys: list[str]) -> int:
    """The result set's runs: the distinct runs its committed ``table`` holds (rows kept from earlier
    commands included), or the complete runs under ``runs`` where there are more (run folders are local,
    and a table is written only once a grid completes)."""
    n = len(list(runs.rglob("metrics.json")))
    if table.is_file():
        import pandas as pd

        n = max(n, len(pd.read_csv(table).drop_duplicates(keys)))
    return n


def _timing_fields(t: dict[str, Any]) -> dict[str, str]:
    """The provenance columns a timing record (grid or study) fills; a run made in parts (``--budget``)
    shows the wall time of all its parts and their number."""
    gpu = f", {t['gpus']}× {t['gpu_name']}" if t.get("gpu_name") else ""
    parts = [*t.get("earlier_parts", []), t]
    wall = f"{sum(float(p.get('wall_seconds') or 0) for p in parts) / 60:.1f}" if "wall_seconds" in t else ""
    return {
        "command": t.get("command", ""),
        "seeds": ",".join(str(s) for s in t.get("seeds", [])),
        "machine": f"{t.get('machine', '')}{gpu}",
        "date": str(t.get("date", ""))[:10],
        "wall_minutes": f"{wall} in {len(parts)} parts" if wall and len(parts) > 1 else wall,
    }


def render_provenance(results_dir: str | Path) -> str:
    """The Markdown provenance table of every result set under ``results_dir``."""
    recs = result_sets(results_dir)
    if not recs:
        return "_No result sets yet: run `make reproduce`._\n"
    cols = ["source", "profile", "runs", "seeds", "command", "machine", "date", "wall_minutes"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in recs:
        cells = [f"`{r[c]}`" if c == "command" and r[c] else str(r[c]) for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def update_results_readme(results_dir: str | Path) -> Path:
    """Rewrite the provenance section of ``<results_dir>/README.md`` (created if missing)."""
    path = Path(results_dir) / "README.md"
    text = path.read_text(encoding="utf-8") if path.is_file() else README_HEAD + f"{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text = text.rstrip("\n") + f"\n\n## Result sets\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return write_text(path, f"{head}{BEGIN}\n{render_provenance(results_dir)}{END}{tail}")
