"""GradeSettings refuses what cannot work, with the sentence the CLI prints for the same input."""

from __future__ import annotations

import dataclasses

import pytest

from pytorch_path.cli import main
from pytorch_path.curriculum import Project, SelectionError
from pytorch_path.grading import GradeSettings
from pytorch_path.report import parse_formats

#: (CLI arguments, the same input through the API, the sentence both give)
CASES = [
    (["--jobs", "0"], {"jobs": 0}, "--jobs must be at least 1"),
    (["--jobs", "-3"], {"jobs": -3}, "--jobs must be at least 1"),
    (["--timeout", "0"], {"timeout_s": 0}, "--timeout must be a positive number of seconds"),
    (["--timeout", "-1"], {"timeout_s": -1.0}, "--timeout must be a positive number of seconds"),
    (["--memory-mb", "-5"], {"memory_mb": -5}, "--memory-mb must be a positive number of MiB"),
    (["--shard", "3/2"], {"shard": "3/2"}, "--shard 3/2: use I/N with 1 <= I <= N"),
    (["--shard", "0/2"], {"shard": "0/2"}, "--shard 0/2: use I/N with 1 <= I <= N"),
    (["--shard", "half"], {"shard": "half"}, "--shard half: use I/N, e.g. --shard 2/4"),
    (["--graders", "/no/such"], {"graders_dir": "/no/such"}, "--graders /no/such: no such folder"),
    (["--solutions", "/nope"], {"solutions_dir": "/nope"}, "--solutions /nope: no such folder"),
    (["--stages", "9"], {"selection": "9"}, "there is no stage 9"),
]


def _api(mini: Project, **options: object) -> GradeSettings:
    if "shard" in options:
        options["shard"] = GradeSettings.parse_shard(str(options["shard"]))
    values: dict[str, object] = {"project": mini, "selection": "1.1", "seed": 1, **options}
    return GradeSettings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("argv", "options", "sentence"), CASES)
def test_the_api_and_the_cli_refuse_alike(mini, monkeypatch, capsys, argv, options, sentence):
    with pytest.raises((ValueError, SelectionError)) as refused:
        _api(mini, **options)
    assert sentence in str(refused.value)
    monkeypatch.chdir(mini.root)
    assert main(["grade", "somewhere", *argv]) == 2
    assert sentence in " ".join(capsys.readouterr().err.split())


def test_formats_are_refused_alike(mini, monkeypatch, capsys) -> None:
    with pytest.raises(ValueError) as refused:
        parse_formats("json,pdf")
    monkeypatch.chdir(mini.root)
    assert main(["grade", "somewhere", "--format", "json,pdf"]) == 2
    assert str(refused.value) in " ".join(capsys.readouterr().err.split())


def test_zero_memory_means_no_cap_and_shards_are_zero_based(mini) -> None:
    settings = _api(mini, memory_mb=0, shard="2/4", jobs=3)
    assert settings.memory_mb is None
    assert settings.shard == (1, 4) and settings.shard_label == "2/4"
    assert settings.jobs == 3
    with pytest.raises(ValueError, match="--jobs must be at least 1"):
        dataclasses.replace(settings, jobs=0)  # every copy is validated too
    assert GradeSettings.parse_shard(None) is None


def test_wall_clock_defaults_to_the_exercises_limits(mini) -> None:
    settings = _api(mini, selection="1.1,1.2")
    limits = sum(ex.time_limit_s for ex in settings.exercises)
    assert settings.wall_s() == limits + 120
    assert _api(mini, timeout_s=7).wall_s() == 7
