"""What every submission of one ``grade`` run shares."""

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
    """Address-space cap per worker in MiB; None for none."""
    sandbox: str = "auto"
    """``auto`` (bubblewrap, else refuse), ``bwrap``, ``process`` or ``none``."""

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
