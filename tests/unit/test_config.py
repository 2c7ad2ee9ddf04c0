"""[[tool.embind-py.target]] tables: loading, validation errors naming the key, overrides."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from embind_py.config import ConfigError, Options, find_project, load_project, target_config
from tests.conftest import run_cli

GOOD = """
[project]
name = "demo"

[[tool.embind-py.target]]
name = "geom"
sources = ["csrc/geom.c"]
out = "src/demo"
defines = ["FAST", "LEVEL=2"]
"""


def make(tmp_path: Path, toml: str = GOOD) -> Path:
    (tmp_path / "csrc").mkdir(exist_ok=True)
    (tmp_path / "csrc" / "geom.c").write_text("int f(void) { return 1; }\n")
    (tmp_path / "csrc" / "geom.h").write_text("int f(void);\n")
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent(toml))
    return tmp_path / "pyproject.toml"


def test_load_and_config(tmp_path: Path) -> None:
    proj = load_project(make(tmp_path))
    (t,) = proj.targets
    assert (t.name, t.sources, t.out, t.defines, t.opt) == (
        "geom",
        ("csrc/geom.c",),
        "src/demo",
        ("FAST", "LEVEL=2"),
        "2",
    )
    cfg = target_config(proj, t)
    root = tmp_path.resolve()
    assert cfg.root == root
    assert cfg.sources == (root / "csrc/geom.c",)
    assert cfg.headers == (root / "csrc/geom.h",)  # the sibling .h by default
    assert cfg.out == root / "src/demo"
    # Command-line options replace the config's values.
    cfg2 = target_config(proj, t, Options(defines=("OTHER",), opt="0", name="other"))
    assert (cfg2.defines, cfg2.opt, cfg2.name) == (("OTHER",), "0", "other")


def test_found_upward(tmp_path: Path) -> None:
    make(tmp_path)
    deep = tmp_path / "csrc" / "sub"
    deep.mkdir()
    assert find_project(deep).root == tmp_path.resolve()
    assert find_project(project=tmp_path).root == tmp_path.resolve()


def test_upward_search_skips_pyprojects_without_targets(tmp_path: Path) -> None:
    make(tmp_path)
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert find_project(inner).root == tmp_path.resolve()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('sources = ["csrc/geom.c"]', 'sorces = ["csrc/geom.c"]'), "unknown key 'sorces'"),
        (('sources = ["csrc/geom.c"]', 'sources = "csrc/geom.c"'), "sources must be a list of strings"),
        (('sources = ["csrc/geom.c"]', 'sources = ["csrc/nope.c"]'), "sources: csrc/nope.c: no such file"),
        (('name = "geom"', 'name = "geo-m"'), "must be a Python identifier"),
        (('name = "geom"', 'name = "class"'), "is a Python keyword"),
        (('name = "geom"', 'name = "typing"'), "the name of a standard module"),
        (('name = "geom"', "name = 3"), "must be a Python identifier"),
        (('name = "geom"', ""), "name is missing"),
        (('sources = ["csrc/geom.c"]', "sources = []"), "sources must list at least one C file"),
        (('sources = ["csrc/geom.c"]', 'sources = ["csrc"]'), "sources: csrc: no such file"),
        (('sources = ["csrc/geom.c"]', 'sources = ["csrc/geom.c", 3]'), "sources must be a list of strings"),
        (('out = "src/demo"', "opt = true"), "opt must be one of"),
        (('out = "src/demo"', 'out = "csrc/geom.c"'), "exists and is not a directory"),
        (('out = "src/demo"', "cflags = '-g'"), "cflags must be a list of strings"),
        (('defines = ["FAST", "LEVEL=2"]', 'defines = ["1BAD"]'), "defines: '1BAD'"),
        (('out = "src/demo"', "out = 3"), "out must be a string"),
        (('out = "src/demo"', 'opt = "fast"'), "opt must be one of"),
        (('out = "src/demo"', 'include-dirs = ["nowhere"]'), "include-dirs: nowhere: no such directory"),
        (('out = "src/demo"', 'headers = ["csrc/x.h"]'), "headers: csrc/x.h: no such file"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    path = make(tmp_path, GOOD.replace(*edit))
    with pytest.raises(ConfigError, match=r"target\]\] #1") as exc:
        load_project(path)
    assert message in str(exc.value)


def test_duplicate_and_unknown_section_keys(tmp_path: Path) -> None:
    target = GOOD[GOOD.index("[[tool") :]
    with pytest.raises(ConfigError, match="#2 \\(geom\\): name 'geom' is used by another target"):
        load_project(make(tmp_path, GOOD + target))
    with pytest.raises(ConfigError, match="unknown key 'targets'"):
        load_project(make(tmp_path, GOOD + "\n[tool.embind-py.targets]\nx = 1\n"))
    single = GOOD.replace("[[tool.embind-py.target]]", "[tool.embind-py.target]")
    with pytest.raises(ConfigError, match=r"is a single table: write \[\[tool.embind-py.target\]\]"):
        load_project(make(tmp_path, single))


def test_bad_toml_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_project(make(tmp_path, "[[tool.embind-py.target]\n"))


def test_cli_reports_config_errors_with_exit_2(tmp_path: Path) -> None:
    path = make(tmp_path, GOOD.replace("out =", "outt ="))
    for cmd in ("build", "check", "generate"):
        res = run_cli(cmd, "--project", path)
        assert res.exit_code == 2, res.output
        assert "unknown key 'outt'" in res.output
    res = run_cli("check", "--project", make(tmp_path), "--target", "nope")
    assert res.exit_code == 2 and "has no such target (targets: geom)" in res.output
    res = run_cli("check", "--project", tmp_path / "missing")
    assert res.exit_code == 2 and "no pyproject.toml there" in res.output


def test_no_project_found_names_what_each_command_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for cmd in ("build", "check", "generate"):
        res = run_cli(cmd)
        assert res.exit_code == 2, res.output
        # `check` takes no sources: the message must not tell it to pass some.
        assert "no pyproject.toml with [[tool.embind-py.target]] found" in res.output
        assert "no C sources given" not in res.output and "--project PATH" in res.output
