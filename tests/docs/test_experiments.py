"""The experiments' reports say only what they wrote."""
import pytest

from experiments import ablation, cortex, end_to_end, single_op
from experiments.report import gather, wrote


def test_wrote_names_only_files_that_were_written(tmp_path):
    assert wrote(tmp_path / "a.json", None, tmp_path / "a.md") == f"wrote {tmp_path / 'a.json'}, {tmp_path / 'a.md'}"
    assert wrote(None) == "wrote nothing"


@pytest.mark.parametrize("module,args", [(single_op, ([{"workload": "x", "alt": 2.0, "loop-only": 1.0, "tvm": 0,
                                                        "torch": 0}],)),
                                         (ablation, (["x"], {("x", "alt"): [1.0, 2.0]})),
                                         (cortex, ([], [])),
                                         (end_to_end, ([{"model": "m", "ms": {"alt": 1.0, "loop-only": 2.0}}],))])
def test_without_matplotlib_no_figure_is_claimed(tmp_path, monkeypatch, module, args):
    monkeypatch.setattr(module, "pyplot", lambda: None)
    path = tmp_path / "fig.png"
    assert module._plot(*args, path) is None and not path.exists()


def test_end_to_end_table_gives_every_contender_its_ratio_to_alt():
    doc = {"cpu": "a CPU", "quick": False, "trials_per_task": 8, "summary": {"alt over loop-only": 2.0},
           "rows": [{"model": "m", "input": [1, 3, 8, 8], "ms": {"alt": 1.0, "loop-only": 2.0}}]}
    md = end_to_end.markdown(doc)
    assert "on a CPU" in md and "| 1.000 (1.00x) | 2.000 (2.00x) |" in md and "alt over loop-only: 2.00x" in md


def test_report_gathers_each_result_with_its_table_and_figure(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.json").write_text('{"cpu": "CPU-Z", "rows": []}')
    (tmp_path / "a" / "x.md").write_text("| t |")
    (tmp_path / "a" / "x.png").write_bytes(b"png")
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "run.jsonl").write_text("{}")
    text, n = gather(tmp_path)
    assert n == 2 and "Measured on CPU-Z." in text and "| t |" in text and "](a/x.png)" in text
    assert "not valid JSON" in text
    assert "No result JSON" in gather(tmp_path / "a" / "none")[0]


def test_ablation_counts_the_trials_a_guided_search_needs_to_match_its_reference():
    assert ablation.parse_config("alt:random:unseeded") == ("alt", "random", False, False)
    assert ablation.parse_config("alt:gbt:transfer") == ("alt", "gbt", True, True)
    assert ablation.label("alt:gbt:transfer") == "alt, model transferred"
    assert ablation.label("alt:gbt:unseeded") == "alt, no hand seeds" and ablation.label("alt:random") == \
        "alt (no cost model)"
    curves = {("w", "alt"): [[1, 5, 5, 6], [2, 4, 6, 6], [1, 5, 6, 7]],  # median curve 1 5 6 6
              ("w", "alt:random"): [[1, 2, 3, 5], [1, 1, 4, 4], [2, 2, 5, 6]],  # median final 5
              ("v", "alt"): [[1, 1, 1, 1]], ("v", "alt:random"): [[2, 2, 2, 2]]}
    _, rows = ablation.summarize(["w", "v"], ["alt", "alt:random"], curves, 4)
    (row,) = rows
    assert row["trials"] == {"w": 2, "v": None} and row["bound"]
    assert row["geomean"] == pytest.approx((2 * 4) ** 0.5)  # v never gets there: counted as the budget
