"""Everything generated from the reference: the student skeleton (and later the notebooks).

Run `python -m builder all` (what `nox -s build` does); `python -m builder --help`
lists the steps. Each step is registered in `builder.__main__.STEPS`.
"""
