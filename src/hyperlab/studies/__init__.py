"""Studies: declarative sweeps with repeated seeds, trained in vectorized cohorts, stored in
SQLite, summarized and drawn."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from hyperlab.studies.spec import Study, StudyError, from_dict, load

_BUILTIN = resources.files(__package__) / "builtin"
# The tutorial's ten experiments in teaching order; the lecture's studies follow them.
TUTORIAL = ("batch-size", "gradient-descent-flavours", "epochs", "optimizers", "learning-rate",
            "momentum", "decay", "plateau-patience", "time-based-schedule", "step-decay")


def builtin_names() -> list[str]:
    """Names of the built-in studies: the tutorial's in teaching order, then the lecture's."""
    found = {p.name[:-5] for p in _BUILTIN.iterdir() if p.name.endswith(".toml")}
    return [n for n in TUTORIAL if n in found] + sorted(found - set(TUTORIAL))


def get(name_or_path: str | Path) -> Study:
    """A built-in study by name, or a study file by path."""
    name = str(name_or_path)
    if name in builtin_names():
        with resources.as_file(_BUILTIN / f"{name}.toml") as path:
            return load(path)
    if not Path(name).exists():
        raise StudyError(f"{name}: no built-in study of that name and no such file; built-in "
                         f"studies: {', '.join(builtin_names())}")
    return load(name)


__all__ = ["TUTORIAL", "Study", "StudyError", "builtin_names", "from_dict", "get", "load"]
