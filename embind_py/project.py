"""Project-level operations: the targets of a pyproject.toml, built, checked or regenerated together.

Owns: choosing the targets (`--project`, `--target`) and applying command-line
overrides to them, the emcc version `check` compares against (only when an emcc
is at hand), and the unified diff `check --diff` shows.

May import: the standard library and embind_py's config, stamp and toolchain; the
pipeline only for `check --diff` (which builds).
"""

from __future__ import annotations

import difflib
from pathlib import Path

from . import stamp, toolchain
from .config import Config, ConfigError, Options, find_project, target_config


def configs(project: Path | None, target: str | None, options: Options | None = None) -> list[Config]:
    """One Config per selected target of the project found from the cwd (or `project`).

    Options given on the command line replace the config's values; --header, --name
    and --out only make sense for one target, so they need `--target` when there are several.
    """
    opts = options or Options()
    proj = find_project(project=project)
    selected = proj.select(target)
    if len(selected) > 1:
        for flag in opts.single_target_options():
            raise ConfigError(
                f"{flag} applies to a single target, and {proj.pyproject.name} has "
                f"{len(selected)}: add --target NAME"
            )
    return [target_config(proj, t, opts) for t in selected]


def emcc_version_at_hand(explicit: str | None = None) -> str | None:
    """The version of the emcc a build would use, or None when there is none (check then skips it)."""
    quick = toolchain.quick_version(explicit)
    if quick is not None:
        return quick
    try:
        return toolchain.find_emcc(explicit).version_str
    except toolchain.ToolchainError:
        return None


def module_diff(cfg: Config, echo: stamp.Echo | None = None) -> str:
    """Unified diff from NAME.py on disk to what a build would write now."""
    from . import pipeline

    py = cfg.out / f"{cfg.name}.py"
    old = py.read_text(encoding="utf-8").splitlines(True) if py.is_file() else []
    new = pipeline.regenerate_text(cfg, echo).splitlines(True)
    shown = stamp.rel(py, cfg.root)
    return "".join(difflib.unified_diff(old, new, f"a/{shown}", f"b/{shown}"))
