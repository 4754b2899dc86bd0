"""What every submission of one ``grade`` run shares, validated where it is made.

:class:`GradeSettings` refuses what cannot work with the sentence the CLI prints, so a
script calling the API and an instructor at the command line get the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pytorch_path.curriculum import Exercise, Project, select

#: Default address-space cap of a worker, in MiB (torch alone maps about 3.5 GiB).
DEFAULT_MEMORY_MB = 8192
#: Wall-clock seconds a submission gets on top of its exercises' time limits.
STARTUP_ALLOWANCE_S = 120.0


@dataclass(frozen=True)
class GradeSettings:
    """What every submission of one ``grade`` run shares."""

    project: Project
    """Where the manifests (and, by default, graders and solutions) live."""
    selection: str
    """The exercises to grade, e.g. ``"1-2"``."""
    seed: int
    """The base seed, the same for every submission of the run."""
    graders_dir: Path | None = None
    """Private graders instead of the shipped ones."""
    solutions_dir: Path | None = None
    """Private reference solutions instead of the shipped ones."""
    timeout_s: float | None = None
    """Wall-clock limit per submission (default: the exercises' limits plus two minutes)."""
    memory_mb: int | None = DEFAULT_MEMORY_MB
    """Address-space cap per worker in MiB; None (or 0) for none."""
    sandbox: str = "auto"
    """``auto`` (bubblewrap, else refuse), ``bwrap``, ``process`` or ``none``."""
    shard: tuple[int, int] | None = None
    """``(i, n)``: grade only the submissions of shard ``i`` (0-based) of ``n``."""
    jobs: int = 1
    """Submissions graded at once."""

    def __post_init__(self) -> None:
        """Refuse settings that cannot work, with the sentence the CLI prints too."""
        if self.memory_mb == 0:
            object.__setattr__(self, "memory_mb", None)  # 0 means "no cap", as on the CLI
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or self.jobs < 1:
            raise ValueError("--jobs must be at least 1")
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise ValueError("--timeout must be a positive number of seconds")
        if self.memory_mb is not None and self.memory_mb < 0:
            raise ValueError("--memory-mb must be a positive number of MiB (or 0 for no cap)")
        if self.sandbox not in ("auto", "bwrap", "process", "none"):
            raise ValueError(f"--sandbox {self.sandbox}: use auto, bwrap, process or none")
        if self.shard is not None:
            index, count = self.shard
            if count < 1 or not 0 <= index < count:
                raise ValueError(f"--shard {index + 1}/{count}: use I/N with 1 <= I <= N")
        for option, folder in (
            ("--graders", self.graders_dir),
            ("--solutions", self.solutions_dir),
        ):
            if folder is not None and not Path(folder).is_dir():
                raise ValueError(f"{option} {folder}: no such folder")
        self.exercises  # noqa: B018  (a selection that names nothing raises SelectionError)

    @classmethod
    def parse_shard(cls, text: str | None) -> tuple[int, int] | None:
        """``"2/4"`` → ``(1, 4)`` (0-based index, count); None stays None.

        Raises ``ValueError`` with the CLI's sentence for anything that is not ``I/N``
        with ``1 <= I <= N``.
        """
        if text is None:
            return None
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise ValueError(f"--shard {text}: use I/N, e.g. --shard 2/4") from None
        if count < 1 or not 1 <= index <= count:
            raise ValueError(f"--shard {text}: use I/N with 1 <= I <= N")
        return index - 1, count

    @property
    def shard_label(self) -> str:
        """``I/N`` (1-based) for reports, or empty."""
        return f"{self.shard[0] + 1}/{self.shard[1]}" if self.shard else ""

    @property
    def exercises(self) -> list[Exercise]:
        """The selected exercises."""
        return select(self.project.stages, self.selection)

    def wall_s(self) -> float:
        """The wall-clock limit of one submission."""
        if self.timeout_s is not None:
            return self.timeout_s
        return sum(ex.time_limit_s for ex in self.exercises) + STARTUP_ALLOWANCE_S

    def isolation(self) -> str:
        """``bwrap``, ``process`` or ``none``: the isolation this batch gets.

        Raises ``SandboxUnavailableError`` for ``auto`` or ``bwrap`` where bubblewrap does
        not work.
        """
        from pytorch_path.sandbox import choose_isolation

        return choose_isolation(self.sandbox)

    @property
    def graders(self) -> Path:
        """The graders folder in use."""
        return self.graders_dir or self.project.graders_dir

    @property
    def solutions(self) -> Path:
        """The reference solutions folder in use."""
        return self.solutions_dir or self.project.solutions_dir
