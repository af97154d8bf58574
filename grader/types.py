"""The types that cross the grader's modules, in one place.

The sandbox produces an `Outcome` per probe; the judge turns it into a
`Verdict`; grading wraps each verdict into a `CheckResult` and a student's
checks into a `SubmissionResult`, which the reports and the class summary read.
Statuses are `Literal`s, so a typo is a type error rather than a silent miss.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from grader.tasks import TASKS

OutcomeStatus = Literal["ok", "error", "timeout", "crashed", "import_error", "skipped", "malformed"]
CheckStatus = Literal["passed", "failed"]
Visibility = Literal["visible", "hidden", "after_due_date", "after_published"]


@dataclass
class Outcome:
    """What happened to one probe in the sandbox."""

    status: OutcomeStatus
    """ok: a result came back; error: the student's code raised; timeout, crashed,
    import_error, skipped: the process failed; malformed: the child's answer did
    not have the probe's shape."""
    result: dict[str, Any] | None = None
    """The probe's plain numbers (only when status is ok), already shape-checked."""
    error: dict[str, Any] | None = None
    """The exception as data: type, message, where (file, line, function)."""
    message: str = ""
    """The grader's own words for a process failure (never the child's text)."""


@dataclass
class GroupRun:
    """One group of probes run in one or more children."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    """Per check id."""
    stderr: str = ""
    """What the student's code printed (capped). Empty for a child that saw
    hidden inputs or reference code: such output is never shown anywhere."""
    notes: list[str] = field(default_factory=list)
    """The grader's remarks about the run (dropped lines, restarts)."""
    seconds: float = 0.0
    """Wall-clock time of the whole group."""


@dataclass
class Upload:
    """What intake found in one student's upload."""

    root: Path | None
    """The folder holding `micrograd/` (None: nothing gradable)."""
    notes: list[str] = field(default_factory=list)
    """How it was found ("graded the loose files ...", "rebuilt from a1_value.ipynb"), one message each."""
    tasks: list[str] | None = None
    """The tasks to grade (a notebook's assignment), or None for every task."""


@dataclass
class CleanCopy:
    """Exactly what is graded of one submission: its micrograd/*.py files."""

    root: Path
    """The folder holding the copied `micrograd/` package."""
    files: dict[str, bytes] = field(default_factory=dict)
    """Relative path -> content of every graded file (the fingerprint's input)."""
    problems: dict[str, str] = field(default_factory=dict)
    """Module (engine, nn, train) -> why it cannot be imported (missing, not UTF-8,
    a disallowed import): the checks that need it fail with this message."""
    notes: list[str] = field(default_factory=list)
    """What was left out (bytecode, other files), one note."""


@dataclass(frozen=True)
class ProbeRequest:
    """One probe as the sandbox runs it."""

    id: str
    """The check id the answer belongs to."""
    probe: dict[str, Any]
    """What to build and measure (never an expected value)."""
    seconds: float
    """Wall-clock time allowed for this probe."""
    max_bytes: int
    """The longest answer line accepted: near what the probe needs, so a child
    cannot make the grader hold more than that."""


@dataclass(frozen=True)
class Group:
    """A group of checks run in one sandboxed child."""

    student: tuple[str, ...]
    """The student's modules the child imports (engine, nn, train)."""
    reference: tuple[str, ...] = ()
    """Modules taken from the reference instead, so a task is graded on a correct
    base: a mistake in engine.py does not cost the nn checks again. A child that
    holds reference code never has its output shown."""


@dataclass
class Verdict:
    """The judge's decision on one check."""

    passed: bool
    """Did the check pass?"""
    output: str
    """What the student reads: the failure, expected vs got (public), a hint."""
    score: float
    """Points earned, between 0 and the check's points."""
    diagnosis: str = ""
    """The mistake's short name (empty when passed)."""


@dataclass
class CheckResult:
    """One graded check, as written to results.json and feedback.md."""

    id: str
    """Stable id, e.g. `2.1/public/mul-1`."""
    task: str
    """The task it grades, e.g. `2.1`."""
    name: str
    """`Task 2.1: <title>`; a hidden check's title never carries its inputs."""
    score: float
    """Points earned."""
    max_score: float
    """Points available."""
    status: CheckStatus
    """passed or failed."""
    output: str
    """The verdict's text."""
    visibility: Visibility
    """Gradescope visibility: public checks are visible, hidden ones after_due_date."""
    diagnosis: str = ""
    """The judge's short name for the mistake ("wrong local derivative of mul"),
    the same for every student who made it: the class report clusters on it."""
    evidence: dict[str, Any] | None = None
    """Public checks only: the probe, the student's plain numbers and the
    expected ones, for the pictures in feedback.html. Always None for hidden checks."""


@dataclass
class SubmissionResult:
    """Everything graded for one student."""

    student: str
    """The student id (the entry's name)."""
    checks: list[CheckResult] = field(default_factory=list)
    """Every check of the rubric, in rubric order."""
    notes: list[str] = field(default_factory=list)
    """Submission-wide remarks: what could not be graded and why, the output of
    public runs, which later checks depend on a failing task."""
    sandbox: str = ""
    """The isolation mode the code ran in (bwrap, uid, unsafe)."""
    seconds: float = 0.0
    """Wall-clock grading time."""
    fingerprint: str = ""
    """Hash of exactly what was graded, the rubric and the seed: a re-run reuses
    a stored result only when this matches (and its signature verifies)."""

    @property
    def task_scores(self) -> dict[str, tuple[float, float]]:
        scores = {task: [0.0, 0.0] for task in TASKS}
        for c in self.checks:
            scores[c.task][0] += c.score
            scores[c.task][1] += c.max_score
        return {task: (s, m) for task, (s, m) in scores.items() if m}

    @property
    def total(self) -> float:
        return sum(c.score for c in self.checks)

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SubmissionResult:
        checks = [CheckResult(**c) for c in data.get("checks", [])]
        return cls(**{**data, "checks": checks})


@dataclass
class Mistake:
    """One cluster of the class report: every student with a failing check of this diagnosis."""

    diagnosis: str
    """The judge's diagnosis (numbers in it, such as a step or an accuracy, read N)."""
    students: list[str]
    """Who made it, sorted."""
    checks: dict[str, list[str]]
    """Check id -> the students who failed that check with this diagnosis."""
    hints: dict[str, int]
    """The hints these failures gave -> how many failing checks gave each."""
    class_size: int
    """Students graded, for the share."""

    @property
    def count(self) -> int:
        return len(self.students)

    @property
    def share(self) -> float:
        return self.count / self.class_size if self.class_size else 0.0

    @property
    def tasks(self) -> list[str]:
        return sorted({cid.split("/")[0] for cid in self.checks}, key=lambda t: tuple(map(int, t.split("."))))


@dataclass
class ClassRun:
    """What grading a class did (`grader.classroom.grade_class`). Unpacks as
    `results, warnings = grade_class(...)`, as it did before the counts."""

    results: list[SubmissionResult]
    """Every student in the reports folder (grades.csv's rows), this run's and earlier ones."""
    warnings: list[str]
    """Layout problems (skipped entries), the sandbox's isolation, and who could not be graded and why."""
    graded: list[str] = field(default_factory=list)
    """Students graded by this run."""
    reused: list[str] = field(default_factory=list)
    """Students whose up-to-date report was kept (same files, rubric and seed)."""
    failed: list[str] = field(default_factory=list)
    """Students the grader itself failed on (re-run to retry)."""
    pending: list[str] = field(default_factory=list)
    """Students not finished when the run was interrupted."""

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter((self.results, self.warnings))


class GradingInterrupted(Exception):
    """Ctrl-C or SIGTERM stopped a class: workers were stopped, grades.csv holds what finished."""

    def __init__(self, signum: int, run: ClassRun) -> None:
        super().__init__(f"interrupted by signal {signum}")
        self.signum, self.run = signum, run
