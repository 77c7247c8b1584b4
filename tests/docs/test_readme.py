"""Every fenced code block of the README runs, as written, as a script of its own (python blocks
with `python script.py`, with no `__main__` guard; bash blocks line by line, stopping at the
first failure), in one folder in the README's order, as a reader following it would: a block that
names a log an earlier block wrote resumes it (the python block after `alt tune-net` rebuilds
from its log). Run alone (`-k`), a block starts in an empty folder and works as well."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```", README.read_text(), re.S | re.M)


@pytest.fixture(scope="module")
def reader_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("readme")


def _id(block):
    lang, text = block
    first = next(ln for ln in text.splitlines() if ln.strip() and not ln.startswith(("import", "from")))
    return f"{lang}:{first[:40]}"


def test_the_readme_has_blocks_to_run():
    assert {lang for lang, _ in BLOCKS} == {"python", "bash"} and len(BLOCKS) >= 5


@pytest.mark.parametrize("lang,text", [pytest.param(*b, id=_id(b), marks=[pytest.mark.slow] if "tune" in b[1]
                                                    else []) for b in BLOCKS])
def test_readme_block_runs_as_written(reader_folder, lang, text):
    script = reader_folder / ("block.py" if lang == "python" else "block.sh")
    script.write_text(text)
    cmd = [sys.executable, str(script)] if lang == "python" else ["bash", "-e", str(script)]
    bindir = os.path.dirname(sys.executable)  # where pip put the `alt` command
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    r = subprocess.run(cmd, cwd=reader_folder, capture_output=True, text=True, timeout=900, env=env)
    assert r.returncode == 0, f"README block failed:\n{text}\n--- stderr ---\n{r.stderr[-3000:]}"
    assert "Traceback" not in r.stderr
