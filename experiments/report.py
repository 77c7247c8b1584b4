"""Shared by the experiments' reports (matplotlib when it is installed), and `python -m experiments.report`:
every result JSON under a folder gathered into one Markdown report with its figures."""


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend, or None (with a note) without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[experiments]'): no PNG")
        return None
    return plt


def wrote(*paths):
    """The line 'wrote a, b' naming only the files this run wrote (None: a file it could not write,
    e.g. a figure without matplotlib)."""
    made = [str(p) for p in paths if p is not None]
    return f"wrote {', '.join(made)}" if made else "wrote nothing"


def gather(folder):
    """One Markdown report of every experiment result under `folder`: for each <name>.json, the
    machine it names, its own table (<name>.md) and its figure (<name>.png) where they exist."""
    import json
    from pathlib import Path
    folder = Path(folder)
    parts = [f"# alt: experiment results under {folder}", ""]
    found = sorted(p for p in folder.rglob("*.json") if not p.name.endswith(".jsonl"))
    for path in found:
        try:
            doc = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            parts += [f"## {path.relative_to(folder)}", "", "(not valid JSON: skipped)", ""]
            continue
        if not isinstance(doc, dict):
            continue
        parts += [f"## {path.relative_to(folder).with_suffix('')}", ""]
        if doc.get("cpu"):
            parts += [f"Measured on {doc['cpu']}.", ""]
        table = path.with_suffix(".md")
        parts += [table.read_text().strip() if table.exists() else "(no table next to it)", ""]
        figure = path.with_suffix(".png")
        if figure.exists():
            parts += [f"![{path.stem}]({figure.relative_to(folder)})", ""]
    if not found:
        parts.append("No result JSON found: run an experiment first, e.g. python -m experiments.end_to_end --quick")
    return "\n".join(parts) + "\n", len(found)


def main(argv=None):
    import argparse
    from pathlib import Path

    from search.cli import output
    p = argparse.ArgumentParser(description="gather every experiment's result JSON under a folder into one "
                                            "Markdown report with its figures")
    p.add_argument("--results", default="results", help="the folder the experiments wrote to")
    p.add_argument("--out", type=output, default=None, help="the report (default: <results>/REPORT.md)")
    args = p.parse_args(argv)
    if not Path(args.results).is_dir():
        p.error(f"--results {args.results!r} is not a folder; give the folder the experiments wrote to (their --out)")
    text, n = gather(args.results)
    out = Path(args.out or Path(args.results) / "REPORT.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"{n} results gathered; {wrote(out)}")


if __name__ == "__main__":
    main()
