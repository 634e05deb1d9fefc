"""The Python API's contract beyond docs/api.md: a script that fits at import is told what to do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_script_that_fits_at_import_is_told_to_guard_it(tmp_path):
    # spawn re-imports the script in the worker; without the guard the worker would fit again
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import boxloop\n"
        "try:\n"
        f"    boxloop.fit({str(ROOT / 'examples' / 'eight_schools.stan')!r}, "
        f"{str(ROOT / 'examples' / 'eight_schools.json')!r}, chains=1, warmup=10, draws=10)\n"
        "except boxloop.errors.FitError as exc:\n"
        "    print('CODE', exc.code)\n"
        "    print(exc)\n")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert "CODE fit.main_not_guarded" in done.stdout, done.stdout + done.stderr
    assert 'if __name__ == "__main__":' in done.stdout
