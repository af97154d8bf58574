"""What runs inside the sandboxed child: `runner.py` (the entry point) and
`probes.py` (the measurements). Standard library only, and nothing here imports
the grader: these files are copied into each child's read-only `/grader`.

The grader's oracle runs the same `probes.py` on the reference (in the
grader's own process), so both sides measure exactly the same thing.
"""
