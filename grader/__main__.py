"""Command line: `python -m grader grade|check|gradescope|gradescope-bundle|sample-class ...` (see --help)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from grader.report import fmt_points
from grader.tasks import TASKS
from grader.types import SubmissionResult

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CLASS = ROOT / "build" / "sample-class"
COURSE = ROOT / "assignments"


def summary_table(results: list[SubmissionResult], title: str) -> Table:
    table = Table(title=title)
    table.add_column("student")
    for section in sorted({t.split(".")[0] for t in TASKS}):
        table.add_column(f"§{section}", justify="right")
    table.add_column("total", justify="right")
    table.add_column("failing tasks")
    for r in sorted(results, key=lambda r: r.student):
        scores = r.task_scores
        row = [r.student]
        for section in sorted({t.split(".")[0] for t in TASKS}):
            got = sum(s for t, (s, _) in scores.items() if t.startswith(section + "."))
            top = sum(m for t, (_, m) in scores.items() if t.startswith(section + "."))
            row.append(f"{fmt_points(got)}/{fmt_points(top)}")
        row.append(f"[bold]{fmt_points(r.total)}[/]/{fmt_points(r.max_score)}")
        row.append(" ".join(t for t, (s, m) in scores.items() if s < m) or "-")
        table.add_row(*row)
    return table


def cmd_grade(args: argparse.Namespace, console: Console) -> int:
    from grader.classroom import grade_class
    from grader.samples import build_sample_class
    from grader.types import GradingInterrupted

    submissions, notebooks = args.submissions, args.notebooks
    allow_unsafe = args.unsafe_no_sandbox
    if args.container_image:  # read by every worker's Sandbox
        os.environ["GRADER_CONTAINER_IMAGE"] = args.container_image
    if submissions is None:
        submissions = build_sample_class(SAMPLE_CLASS)
        notebooks = notebooks or COURSE
        console.print(f"Built the embedded sample class in {submissions}")
        allow_unsafe = True  # the kit's own sample class: no stranger's code in it
    where = f"on the Dask cluster {args.dask}" if args.dask else f"with {args.jobs} worker(s)"
    console.print(f"Grading {submissions} into {args.out} {where}")
    try:
        run = grade_class(
            submissions,
            args.out,
            jobs=args.jobs,
            secret=args.secret,
            secret_file=args.secret_file,
            use_bwrap=False if args.no_bwrap else None,
            allow_unsafe=allow_unsafe,
            allow_imports=tuple(args.allow_import or ()),
            dask=args.dask,
        )
    except GradingInterrupted as stop:
        name = signal.Signals(stop.signum).name
        run = stop.run
        console.print(
            f"[bold red]Stopped by {name}[/]: {len(run.graded)} graded and {len(run.reused)} reused before the stop, "
            f"{len(run.pending)} not finished; queued work cancelled and workers stopped. "
            f"{args.out / 'grades.csv'} lists the {len(run.results)} students with reports."
        )
        console.print(
            f"To resume, run the same command again: finished students are kept, the {len(run.pending)} others "
            "are graded.",
            markup=False,
        )
        return 128 + stop.signum
    for w in run.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    console.print(summary_table(run.results, f"{len(run.results)} submissions graded into {args.out}"))
    console.print(
        f"This run: {len(run.graded)} graded, {len(run.reused)} reused (report up to date), "
        f"{len(run.failed)} could not be graded."
    )
    from grader.html_report import mistakes_table, top_mistakes

    if top_mistakes(run.results, 5):
        console.print(mistakes_table(top_mistakes(run.results, 5)))
    console.print(
        f"Grades: {args.out / 'grades.csv'}; the class: {args.out / 'class-report.html'}, "
        f"{args.out / 'common-mistakes.csv'}; per student (students/<id>/): results.json (Gradescope), "
        "feedback.md and feedback.html"
    )
    if notebooks:
        from grader.classroom import load_secret
        from grader.notebooks import grade_notebook_class

        out = args.out / "notebooks"
        console.print(f"Grading the notebooks submitted to {notebooks / 'submitted'} with nbgrader and the sandbox ...")
        key = load_secret(args.out, args.secret, args.secret_file)
        boundary = {"use_bwrap": False if args.no_bwrap else None, "allow_unsafe": allow_unsafe}
        nb_results = grade_notebook_class(notebooks, out, jobs=args.jobs, secret=key, **boundary)
        console.print(summary_table(nb_results, f"{len(nb_results)} notebook students graded into {out}"))
        console.print(f"Grades: {out / 'grades.csv'}; nbgrader vs sandbox per notebook: {out / 'notebooks.csv'}")
    return 1 if run.failed else 0


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    from grader.intake import SubmissionError, locate

    path = args.path
    with tempfile.TemporaryDirectory(prefix="grader-check-") as tmp:
        try:  # what the grader accepts: a package, loose files, a zip, a notebook
            upload = locate(path, Path(tmp))
        except (SubmissionError, OSError) as exc:
            console.print(f"[red]Nothing to check in {path}:[/] {exc}")
            return 2
        assert upload.root is not None
        return _check(args, console, upload.root, path, upload.notes, upload.tasks)


def _check(args: argparse.Namespace, console: Console, root: Path, path: Path, notes: list[str],
           tasks_of_upload: list[str] | None) -> int:  # fmt: skip
    from grader.grading import grade_package
    from grader.sandbox import Sandbox

    for note in notes:
        console.print(f"[yellow]note:[/] {note}", markup=False, highlight=False)
    # A self-check runs the student's own code on their own machine: no sandbox is no refusal.
    allow_imports = tuple(args.allow_import or ())
    sandbox = Sandbox(use_bwrap=False if args.no_bwrap else None, allow_unsafe=True, allow_imports=allow_imports)
    if sandbox.warning:
        console.print(f"[yellow]note:[/] {sandbox.warning}")
    tasks = args.task or tasks_of_upload
    result = grade_package(root, "self-check", hidden=False, sandbox=sandbox, tasks=tasks, allow_imports=allow_imports)
    table = Table(title=f"Public checks of {path}")
    for col in ("task", "", "checks", "points"):
        table.add_column(col)
    for task, (score, top) in result.task_scores.items():
        checks = [c for c in result.checks if c.task == task]
        passed = sum(c.status == "passed" for c in checks)
        mark = "[green]✔[/]" if passed == len(checks) else ("[red]✘[/]" if passed == 0 else "[yellow]~[/]")
        table.add_row(
            f"{mark} {task}", TASKS[task], f"{passed}/{len(checks)}", f"{fmt_points(score)}/{fmt_points(top)}"
        )
    console.print(table)
    failing = [c for c in result.checks if c.status == "failed"]
    for c in failing[: args.show]:
        console.rule(c.name, style="red")
        console.print(c.output, markup=False, highlight=False)
    if len(failing) > args.show:
        console.print(f"... and {len(failing) - args.show} more failing checks (--show N to see more)")
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}", markup=True, highlight=False)
    if failing:
        console.print(f"[bold]{len(failing)} of {len(result.checks)} public checks fail.[/]")
        return 1
    console.print(
        f"[bold green]All {len(result.checks)} public checks pass.[/] Hidden checks run the same operations on other "
        "inputs when your instructor grades; they are not run here."
    )
    return 0


def cmd_container_image(args: argparse.Namespace, console: Console) -> int:
    """Build the container mode's image from this machine's Python: for machines with no registry."""
    import shutil

    from grader.container import LOCAL_IMAGE, build_image
    from grader.sandbox import python_runtime

    program = shutil.which(args.engine)
    if program is None:
        console.print(f"[red]{args.engine} is not installed.[/]")
        return 2
    tag = build_image(program, python_runtime()[0], args.tag or LOCAL_IMAGE)
    console.print(f"Built {tag}: grade with `--container-image {tag}` (or GRADER_CONTAINER_IMAGE={tag}).")
    return 0


def cmd_gradescope(args: argparse.Namespace, console: Console) -> int:
    """Gradescope's run_autograder: grade ROOT/submission into ROOT/results/results.json."""
    from grader.gradescope import run_autograder

    run = run_autograder(args.root, secret=args.secret)
    if run.message != "graded":
        console.print(f"[red]The autograder is misconfigured:[/] {run.message}; results.json says so", markup=True)
        return 0
    console.print(f"{run.student}: {fmt_points(run.score)}/{fmt_points(run.max_score)} -> {run.results}")
    return 0


def cmd_gradescope_bundle(args: argparse.Namespace, console: Console) -> int:
    """Build Gradescope's autograder zip."""
    from grader.gradescope import build_bundle

    secret = args.secret_file.read_text(encoding="utf-8").strip() if args.secret_file else None
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    bundle = build_bundle(args.out, assignment=args.assignment, tasks=tasks, secret=secret)
    console.print(
        f"Wrote {bundle.path} ({bundle.bytes / 1e6:.2f} MB, {bundle.files} files): tasks {', '.join(bundle.tasks)}, "
        f"{fmt_points(bundle.max_score)} points. Upload it as the assignment's autograder (Ubuntu base image)."
    )
    if bundle.secret_file:
        console.print(
            f"A new secret for the hidden inputs is in {bundle.secret_file}: keep it private, and pass it "
            "(--secret-file) to rebuild the bundle or to `grade --secret` to reproduce these grades."
        )
    return 0


def cmd_sample_class(args: argparse.Namespace, console: Console) -> int:
    from grader.samples import build_sample_class

    console.print(f"Sample class written to {build_sample_class(args.out)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and option, each with its help text."""
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade a class of submissions (default: the embedded sample class)")
    g.add_argument(
        "submissions", nargs="?", type=Path, help="folder with one folder or .zip per student, named by student id"
    )
    g.add_argument("--out", type=Path, default=ROOT / "reports", help="where reports go (default: reports/)")
    g.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel graders (default: cores)")
    g.add_argument("--secret-file", type=Path, help="file holding the secret for hidden probes and report signatures "
                   "(default: $GRADER_SECRET, else REPORTS/.grader-secret, made on first use)")
    g.add_argument("--secret", help="the secret itself: visible to every local user in the process list, "
                   "prefer --secret-file or $GRADER_SECRET on a shared machine")
    g.add_argument("--no-bwrap", action="store_true",
                   help="do not use bubblewrap: as root, the chroot + unprivileged uid mode; otherwise a podman or "
                   "docker container, else refused unless --unsafe-no-sandbox")
    g.add_argument("--container-image", metavar="IMAGE",
                   help="the local image of the container mode (not root, no bubblewrap): any image with Python "
                   "3.11+, never downloaded at run time (default: $GRADER_CONTAINER_IMAGE, else python:3.11-slim; "
                   "`python -m grader container-image` builds one from this machine's Python)")
    g.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="allow running submissions with your own rights when no sandbox is available "
                   "(only for code you trust)")
    allow_help = ("let graded code import this installed package too (repeatable); by default only the standard "
                  "library, which is all micrograd needs")  # fmt: skip
    g.add_argument("--allow-import", action="append", metavar="PACKAGE", help=allow_help)
    g.add_argument("--notebooks", type=Path, help="also grade the notebooks in an nbgrader course root")
    g.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="grade on a Dask cluster: tcp://HOST:PORT of a running `dask scheduler`, or local:N for N "
        "local workers (--jobs is then ignored)",
    )
    c = sub.add_parser("check", help="self-check a package with the public checks")
    c.add_argument("path", nargs="?", type=Path, default=ROOT / "student",
                   help="what you would hand in: a folder holding micrograd/, loose engine.py/nn.py/train.py, "
                   "a zip, a notebook")  # fmt: skip
    c.add_argument("--task", action="append", choices=list(TASKS), help="only this task (repeatable)")
    c.add_argument("--show", type=int, default=10, help="how many failing checks to print in full")
    c.add_argument("--no-bwrap", action="store_true", help="do not use bubblewrap")
    c.add_argument("--allow-import", action="append", metavar="PACKAGE", help=allow_help)
    ci = sub.add_parser("container-image",
                        help="build the container mode's image from this machine's own Python (podman or docker)")
    ci.add_argument("--engine", default="podman", choices=["podman", "docker"], help="the engine (default: podman)")
    ci.add_argument("--tag", default=None, help="the image's name (default: localhost/micrograd-grader-child:latest)")
    gs = sub.add_parser("gradescope", help="Gradescope's run_autograder: one submission to results.json")
    gs.add_argument(
        "--root",
        type=Path,
        default=Path(os.environ.get("AUTOGRADER_ROOT") or "/autograder"),
        help="the autograder folder holding submission/, submission_metadata.json and source/; results go to "
        "ROOT/results/results.json (default: $AUTOGRADER_ROOT, else /autograder)",
    )
    gs.add_argument("--secret", help="seed for hidden probes (default: $GRADER_SECRET, else ROOT/source/grader-secret)")
    b = sub.add_parser("gradescope-bundle", help="build the autograder zip to upload to Gradescope")
    b.add_argument(
        "--out", type=Path, default=Path("autograder.zip"), help="the zip to write (default: autograder.zip)"
    )
    which = b.add_mutually_exclusive_group()
    which.add_argument("--assignment", help="grade only this nbgrader assignment's tasks (e.g. a1_value)")
    which.add_argument("--tasks", help="grade only these tasks, comma-separated (e.g. 1.1,1.2,2.1); default: all")
    b.add_argument(
        "--secret-file",
        type=Path,
        help="file holding the secret for hidden inputs (default: $GRADER_SECRET, else a new one saved as OUT.secret)",
    )
    s = sub.add_parser("sample-class", help="write the embedded sample class to a folder")
    s.add_argument(
        "out", type=Path, nargs="?", default=SAMPLE_CLASS, help="where to write it (default: build/sample-class)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    handler = {
        "grade": cmd_grade,
        "check": cmd_check,
        "container-image": cmd_container_image,
        "gradescope": cmd_gradescope,
        "gradescope-bundle": cmd_gradescope_bundle,
        "sample-class": cmd_sample_class,
    }[args.command]
    from grader.intake import SubmissionError
    from grader.sandbox import SandboxUnavailable

    try:
        return handler(args, console)
    except (SubmissionError, SandboxUnavailable) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
