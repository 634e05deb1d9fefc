"""What every exported script shares: how it is run, how it reads its Stan-JSON data, its flags.

The scripts are `str.format` templates: HEADER + the framework's imports + COMMON + its sampling.
"""

from __future__ import annotations

HEADER = '''"""{framework} version of {program}, written out by `boxloop export`.

Run:  python THIS_FILE.py DATA.json [--chains 4 --warmup 1000 --draws 1000 --seed 0 --save draws.npz]
DATA.json is Stan-JSON (name -> number or nested list), as CmdStan reads it.
"""

import argparse
import json

'''

COMMON = '''DATA_NAMES = ({names},)


def load_data(path):
    """Read the Stan-JSON data file into the arrays the model takes."""
    with open(path) as f:
        raw = json.load(f)
    missing = [name for name in DATA_NAMES if name not in raw]
    if missing:
        raise SystemExit(f"{{path}} lacks {{', '.join(missing)}}")
    return {{
{loader}
    }}{helpers}


{model}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default={default}, help="Stan-JSON data file")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", help="write the draws to this .npz file")
    args = parser.parse_args(argv)
    if args.data is None:
        parser.error("give the Stan-JSON data file")
'''


def render(template: str, *, framework: str, program_name: str, data_path: str | None, loader: str,
           model: str, helpers: dict[str, str], helpers_used, data) -> str:
    """The whole script: `template` filled with the program's pieces and the helper functions it uses."""
    used = "".join("\n\n" + helpers[h] for h in sorted(helpers_used))
    return template.format(framework=framework, program=program_name, loader=loader, helpers=used,
                           model=model, default=repr(data_path) if data_path else "None",
                           names=", ".join(repr(d.name) for d in data))
