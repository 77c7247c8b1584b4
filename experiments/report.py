"""Shared by the experiments' reports: matplotlib when it is installed."""


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
