"""Where the tests find the shared folder (`<repo>/../shared`: benchmark data, posteriordb
references, the Stan corpus). Every test module that needs it asks `shared(...)` at import, so a
checkout without the folder fails at collection with an error that names it, instead of skipping
those tests without a word."""

from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"


class SharedFolderMissing(FileNotFoundError):
    pass


def shared(*parts: str) -> Path:
    """`<repo>/../shared/<parts...>`, which must exist."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        raise SharedFolderMissing(
            f"{path} does not exist: these tests need the shared folder {SHARED} next to the checkout "
            f"(benchmark data and posteriordb references); put it there, or deselect this module")
    return path
