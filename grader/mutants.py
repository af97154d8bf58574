"""Mutation testing of the rubric: does every plausible one-line mistake cost points, in its own task?

    python -m grader.mutants --out build/mutants            # every mutant (nox -s mutants)
    python -m grader.mutants --out build/mutants --sample 8 # a few, spread over the tasks

The generator makes single-change mutants of the lines inside the reference's
`### BEGIN SOLUTION [task]` regions, modelled on real student mistakes:
operator swaps, `+=` to `=`, dropped statements, self/other swaps, off-by-one
exponents and constants, flipped comparisons, a missing `reversed`, the wrong
sign of a step. Each is graded like a submission (the sandbox, a fixed seed)
and compared with the reference's grade per task. A mutant that loses nothing
is listed with the reason it is equivalent (mutants_equivalent.json) or, when
no reason is on file, as a gap in the rubric.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import statistics
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from builder.markers import BEGIN_RE, END_RE

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "reference" / "micrograd"
FILES = ("engine.py", "nn.py", "train.py")
PACKAGE_FILES = ("__init__.py", *FILES)
EQUIVALENT = Path(__file__).with_name("mutants_equivalent.json")
SEED = 0


@dataclass(frozen=True)
class Mutant:
    """One single-line change to the reference."""

    id: str
    """Stable: a hash of the file, the task and the line before and after."""
    file: str
    line: int
    """1-based line in the reference file."""
    task: str
    """The solution region's task: where the mistake belongs."""
    kind: str
    """The mutation operator (e.g. `+= to =`)."""
    old: str
    new: str

    def apply(self, text: str) -> str:
        lines = text.splitlines(keepends=True)
        assert lines[self.line - 1].rstrip("\n") == self.old, f"{self.id}: the reference changed"
        lines[self.line - 1] = self.new + "\n"
        return "".join(lines)


# --------------------------------------------------------------- operators

Operator = Callable[[str], Iterator[str]]


def _subs(pattern: str, repl: str) -> Operator:
    """Each occurrence of `pattern` replaced on its own (one change per mutant)."""
    rx = re.compile(pattern)

    def op(code: str) -> Iterator[str]:
        for m in rx.finditer(code):
            yield code[: m.start()] + m.expand(repl) + code[m.end() :]

    return op


def _swap_self_other(code: str) -> Iterator[str]:
    if re.search(r"\bself\b", code) and re.search(r"\bother\b", code):
        yield re.sub(r"\b(self|other)\b", lambda m: "other" if m.group(1) == "self" else "self", code)


def _drop(code: str) -> Iterator[str]:
    stripped = code.strip()
    if stripped and not stripped.endswith(":") and not stripped.startswith(("return", "else", "elif")):
        yield code[: len(code) - len(code.lstrip())] + "pass"


def _off_by_one(code: str) -> Iterator[str]:
    for m in re.finditer(r"(?<![\w.])(\d+)(\.\d+)?(?![\w.])", code):
        number = float(m.group(0))
        for new in (number + 1, number - 1):
            text = f"{new:g}" if m.group(2) is None else f"{new:.1f}"
            yield code[: m.start()] + text + code[m.end() :]


OPERATORS: list[tuple[str, Operator]] = [
    ("+= to =", _subs(r"\+=", "=")),
    ("-= to =", _subs(r"-=", "=")),
    ("+= to -=", _subs(r"\+=", "-=")),
    ("-= to +=", _subs(r"-=", "+=")),
    ("+ to -", _subs(r"(?<=[\w)\]]) \+ (?=[\w(])", " - ")),
    ("- to +", _subs(r"(?<=[\w)\]]) - (?=[\w(])", " + ")),
    ("* to /", _subs(r"(?<=[\w)\]]) \* (?=[\w(])", " / ")),
    ("/ to *", _subs(r"(?<=[\w)\]]) / (?=[\w(])", " * ")),
    ("** to *", _subs(r"\*\*", "*")),
    ("> to >=", _subs(r" > ", " >= ")),
    (">= to >", _subs(r" >= ", " > ")),
    ("> to <", _subs(r" > ", " < ")),
    ("< to <=", _subs(r" < ", " <= ")),
    ("== to !=", _subs(r" == ", " != ")),
    ("!= to ==", _subs(r" != ", " == ")),
    ("missing reversed", _subs(r"reversed\((\w+)\)", r"\1")),
    ("self/other swapped", _swap_self_other),
    ("dropped statement", _drop),
    ("off-by-one constant", _off_by_one),
    ("pop() to pop(0)", _subs(r"\.pop\(\)", ".pop(0)")),
    ("w + [b] to w", _subs(r" \+ \[self\.b\]", "")),
    ("out[0] to out", _subs(r"return out\[0\] if", "return out if")),
    ("not negated", _subs(r" if not ", " if ")),
]


def _code_part(line: str) -> tuple[str, str]:
    """The code and its trailing comment (never mutate a comment or a string's '#')."""
    if "#" in line and "'" not in line.split("#")[0] and '"' not in line.split("#")[0]:
        i = line.index("#")
        return line[:i].rstrip(), line[len(line[:i].rstrip()) :]
    return line, ""


def generate(reference: Path = REFERENCE) -> list[Mutant]:
    """Every single-line mutant of the solution regions that still compiles."""
    mutants: dict[str, Mutant] = {}
    for name in FILES:
        text = (reference / name).read_text(encoding="utf-8")
        lines = text.splitlines()
        task = None
        for number, line in enumerate(lines, 1):
            begin = BEGIN_RE.match(line)
            if begin:
                task = begin.group("task")
                continue
            if END_RE.match(line):
                task = None
                continue
            if task is None or not line.strip() or line.strip().startswith("#"):
                continue
            code, comment = _code_part(line)
            for kind, operator in OPERATORS:
                for new_code in operator(code):
                    new = new_code + comment
                    if new == line:
                        continue
                    mutated = "\n".join([*lines[: number - 1], new, *lines[number:]])
                    try:
                        compile(mutated, name, "exec")
                    except SyntaxError:
                        continue
                    key = hashlib.sha256(f"{name}\0{task}\0{line}\0{new}".encode()).hexdigest()[:10]
                    mutants.setdefault(key, Mutant(key, name, number, task, kind, line, new))
    return list(mutants.values())


def sample(mutants: list[Mutant], n: int) -> list[Mutant]:
    """A few mutants spread over the tasks, the same every time."""
    by_task: dict[str, list[Mutant]] = {}
    for m in sorted(mutants, key=lambda m: m.id):
        by_task.setdefault(m.task, []).append(m)
    picked: list[Mutant] = []
    while len(picked) < n and any(by_task.values()):
        for task in sorted(by_task):
            if by_task[task] and len(picked) < n:
                picked.append(by_task[task].pop(0))
    return picked


def equivalents() -> dict[str, str]:
    """Mutants known to behave like the reference, with the reason (id -> reason)."""
    if not EQUIVALENT.exists():
        return {}
    return {k: v["reason"] for k, v in json.loads(EQUIVALENT.read_text(encoding="utf-8")).items()}


# ----------------------------------------------------------------- grading


@dataclass
class Graded:
    mutant: Mutant
    lost: dict[str, float]
    """Points lost per task, against the reference's grade."""
    lost_by_design: dict[str, float]
    """The same, counting only checks whose child runs the mutated file under
    `rubric.GROUPS` (student modules only). Equal to `lost` once the sandbox
    gives each group the reference's modules it lists; until then, the figure
    the design promises."""

    @property
    def own(self) -> float:
        return self.lost.get(self.mutant.task, 0.0)

    @property
    def outside(self) -> float:
        return sum(v for t, v in self.lost.items() if t != self.mutant.task)

    @property
    def outside_by_design(self) -> float:
        return sum(v for t, v in self.lost_by_design.items() if t != self.mutant.task)

    @property
    def killed(self) -> bool:
        return sum(self.lost.values()) > 0


def write_package(mutant: Mutant | None, dest: Path) -> Path:
    (dest / "micrograd").mkdir(parents=True, exist_ok=True)
    for name in PACKAGE_FILES:
        text = (REFERENCE / name).read_text(encoding="utf-8")
        if mutant is not None and mutant.file == name:
            text = mutant.apply(text)
        (dest / "micrograd" / name).write_text(text, encoding="utf-8")
    return dest


def grade_mutants(mutants: list[Mutant], jobs: int = 1, progress: bool = False) -> list[Graded]:
    """Grade the reference and every mutant in the sandbox; points lost per task."""
    from concurrent.futures import ThreadPoolExecutor

    from grader.grading import grade_package
    from grader.rubric import GROUPS, build
    from grader.sandbox import Sandbox

    sandbox = Sandbox()
    checks = {c.id: c for c in build(SEED)}
    with tempfile.TemporaryDirectory(prefix="mutants-") as tmp:
        base = Path(tmp)

        def scores(mutant: Mutant | None) -> dict[str, float]:
            folder = write_package(mutant, base / (mutant.id if mutant else "reference"))
            result = grade_package(folder, folder.name, seed=SEED, sandbox=sandbox)
            shutil.rmtree(folder, ignore_errors=True)
            return {c.id: c.score for c in result.checks}

        reference = scores(None)
        graded: list[Graded] = []
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for k, (m, got) in enumerate(zip(mutants, pool.map(scores, mutants)), 1):
                lost: dict[str, float] = {}
                by_design: dict[str, float] = {}
                module = m.file.removesuffix(".py")
                for cid, want in reference.items():
                    delta = round(want - got.get(cid, 0.0), 4)
                    if not delta:
                        continue
                    task = checks[cid].task
                    lost[task] = round(lost.get(task, 0.0) + delta, 2)
                    if module in GROUPS[checks[cid].group].student:
                        by_design[task] = round(by_design.get(task, 0.0) + delta, 2)
                graded.append(Graded(m, lost, by_design))
                if progress:
                    print(f"[{k}/{len(mutants)}] {m.task} {m.kind}: lost {sum(lost.values()):g}", flush=True)
    return graded


# ------------------------------------------------------------------ report


def summary(graded: list[Graded]) -> dict[str, float]:
    known = equivalents()
    live = [g for g in graded if g.killed or g.mutant.id not in known]
    killed = [g for g in live if g.killed]
    return {
        "mutants": len(graded),
        "equivalent": len(graded) - len(live),
        "killed": len(killed),
        "killed_in_own_task": sum(1 for g in killed if g.own > 0),
        "survived": len(live) - len(killed),
        "median_points_lost": statistics.median([sum(g.lost.values()) for g in killed]) if killed else 0.0,
        "median_points_lost_outside": statistics.median([g.outside for g in killed]) if killed else 0.0,
        "share_lost_outside": round(
            sum(g.outside for g in killed) / max(1e-9, sum(sum(g.lost.values()) for g in killed)), 3
        ),
        "median_points_lost_outside_by_design": (
            statistics.median([g.outside_by_design for g in killed]) if killed else 0.0
        ),
        "share_lost_outside_by_design": round(
            sum(g.outside_by_design for g in killed)
            / max(1e-9, sum(sum(g.lost_by_design.values()) for g in killed)),
            3,
        ),
    }


def table(graded: list[Graded]) -> str:
    """The mutation table (markdown): per task, then the survivors."""
    known = equivalents()
    rows = ["| task | mutants | killed | killed in its task | median points lost in its task | median lost outside "
            "(measured) | median lost outside (GROUPS) | equivalent | survived |",
            "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip

    def median(values: list[float]) -> float:
        return statistics.median(values) if values else 0.0

    for task in sorted({g.mutant.task for g in graded}, key=lambda t: [int(x) for x in t.split(".")]):
        mine = [g for g in graded if g.mutant.task == task]
        killed = [g for g in mine if g.killed]
        equivalent = [g for g in mine if not g.killed and g.mutant.id in known]
        rows.append(f"| {task} | {len(mine)} | {len(killed)} | {sum(1 for g in killed if g.own > 0)} | "
                    f"{median([g.own for g in killed]):g} | {median([g.outside for g in killed]):g} | "
                    f"{median([g.outside_by_design for g in killed]):g} | {len(equivalent)} | "
                    f"{len(mine) - len(killed) - len(equivalent)} |")  # fmt: skip
    s = summary(graded)
    killed = [g for g in graded if g.killed]
    rows.append(f"| all | {s['mutants']} | {s['killed']} | {s['killed_in_own_task']} | "
                f"{median([g.own for g in killed]):g} | {s['median_points_lost_outside']:g} | "
                f"{s['median_points_lost_outside_by_design']:g} | {s['equivalent']} | {s['survived']} |")  # fmt: skip
    out = ["\n".join(rows), ""]
    survivors = [g for g in graded if not g.killed]
    if survivors:
        out.append("Mutants that lose no points:\n")
        for g in survivors:
            m = g.mutant
            reason = known.get(m.id, "NOT EXPLAINED: a gap in the rubric")
            out.append(f"- `{m.id}` {m.file}:{m.line} [{m.task}] {m.kind}: `{m.new.strip()}`: {reason}")
    misplaced = [g for g in graded if g.killed and g.own == 0]
    if misplaced:
        out.append("\nMutants that lose points only outside their task:\n")
        for g in misplaced:
            m = g.mutant
            out.append(f"- `{m.id}` {m.file}:{m.line} [{m.task}] {m.kind}: `{m.new.strip()}`: lost {g.lost}")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.mutants", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("build/mutants"))
    parser.add_argument("--sample", type=int, default=0, help="grade only this many, spread over the tasks")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--list", action="store_true", help="list the mutants, grade nothing")
    args = parser.parse_args(argv)
    mutants = generate()
    if args.sample:
        mutants = sample(mutants, args.sample)
    if args.list:
        for m in mutants:
            print(f"{m.id} {m.file}:{m.line} [{m.task}] {m.kind}: {m.new.strip()}")
        return 0
    graded = grade_mutants(mutants, jobs=args.jobs, progress=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "mutants.md").write_text(table(graded), encoding="utf-8")
    records = [{**asdict(g.mutant), "lost": g.lost, "lost_by_design": g.lost_by_design, "own": g.own,
                "outside": g.outside, "outside_by_design": g.outside_by_design} for g in graded]  # fmt: skip
    (args.out / "mutants.json").write_text(json.dumps({"summary": summary(graded), "mutants": records}, indent=1))
    print(table(graded))
    print(json.dumps(summary(graded), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
