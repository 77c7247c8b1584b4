"""The experiments' reports say only what they wrote."""
import pytest

from experiments import ablation, cortex, single_op
from experiments.report import wrote


def test_wrote_names_only_files_that_were_written(tmp_path):
    assert wrote(tmp_path / "a.json", None, tmp_path / "a.md") == f"wrote {tmp_path / 'a.json'}, {tmp_path / 'a.md'}"
    assert wrote(None) == "wrote nothing"


@pytest.mark.parametrize("module,args", [(single_op, ([{"workload": "x", "alt": 2.0, "loop-only": 1.0, "tvm": 0,
                                                        "torch": 0}],)),
                                         (ablation, (["x"], {("x", "alt"): [1.0, 2.0]})),
                                         (cortex, ([],))])
def test_without_matplotlib_no_figure_is_claimed(tmp_path, monkeypatch, module, args):
    monkeypatch.setattr(module, "pyplot", lambda: None)
    path = tmp_path / "fig.png"
    assert module._plot(*args, path) is None and not path.exists()
