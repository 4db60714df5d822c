"""The README's commands work as a newcomer would paste them."""

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_cli import _free_port

README = Path(__file__).resolve().parents[2] / "README.md"


def _block_after(heading: str) -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def test_the_first_screen_gives_the_demo_and_test_commands():
    first_screen = README.read_text(encoding="utf-8")[:4000]
    commands = re.findall(r"```bash\n(.*?)```", first_screen, re.S)
    assert len(commands) >= 2
    assert "market demo" in commands[0] and "pip install -e ." in commands[0]
    assert "python -m pytest" in commands[1]
    ci_script = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    test_command = commands[1].strip().split("&& ")[-1]
    assert test_command in ci_script, "CI must run the README's test command"


@pytest.mark.skipif(sys.platform == "win32", reason="the tour is a bash session")
def test_the_api_tour_runs(tmp_path):
    port = str(_free_port())
    script = _block_after("## A tour of the API").replace("5000", port)
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "REDIS_URL": ""}
    env.pop("DATABASE_URL", None)
    out_path, err_path = tmp_path / "out.txt", tmp_path / "err.txt"
    with out_path.open("w") as out_file, err_path.open("w") as err_file:
        # Its own session, so the server it starts in the background can be stopped whatever happens.
        tour = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            env=env,
            stdout=out_file,
            stderr=err_file,
            start_new_session=True,
        )
        try:
            returncode = tour.wait(timeout=120)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(tour.pid, signal.SIGTERM)
    out = out_path.read_text()
    assert returncode == 0, out + err_path.read_text()
    assert '"status":"ok"' in out.replace(" ", "")
    assert '"tonnes":"120.5"' in out.replace(" ", "")
    assert '"max_price_per_tonne"' not in out
    assert '"field":"tonnes"' in out.replace(" ", "")
    assert "approved" in out.splitlines()
    assert '"status":"confirmed"' in out.replace(" ", "")
    assert "By product" in out
    assert '"tonnes_accepted":"19.8"' in out.replace(" ", "")
    assert (tmp_path / "by-township.csv").read_bytes().startswith("\ufeff乡镇 Township".encode())
