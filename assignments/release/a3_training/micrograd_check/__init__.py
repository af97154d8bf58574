"""micrograd_check: the public checks of the course, with no solution and nothing to install.

    from micrograd_check import check
    check("1.1", globals())          # in a notebook: the public checks of Task 1.1

    python -m micrograd_check        # in your micrograd folder: every task's public checks
    python -m micrograd_check 2.1    # one task

The checks are the course grader's public ones, with its messages and hints;
their expected values were computed when the course was built (from the
reference solution and PyTorch) and are stored in checks.json, so this runs
with the standard library only. The grader also has hidden checks, on fresh
inputs, which run only when your work is graded.
"""

from micrograd_check.run import check, check_package, started

__all__ = ["check", "check_package", "started"]
