"""nbgrader's configuration for the micrograd course.

nbgrader reads this file from the working directory only: run every nbgrader
command from assignments/ (grader/notebooks.py and builder/notebooks.py do).
The notebooks under source/ are generated: edit builder/notebooks.py, then run
`python -m builder notebooks`.
"""

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades, NbGraderPreprocessor

# The grader runs nbgrader with the kit on PYTHONPATH (grader/notebooks.py).
from grader.notebook_contract import CELL_TIMEOUT, cell_timeout

c = get_config()  # noqa: F821 (nbgrader defines get_config when it loads this file)

c.CourseDirectory.course_id = "micrograd"

# The time limit of each cell: CELL_TIMEOUT, or less where the builder tagged a
# cell (grader/notebook_contract.py says why).
c.Execute.timeout = CELL_TIMEOUT
c.Execute.timeout_func = cell_timeout
# A deleted test cell is put back (and run) instead of silently not counting.
c.OverwriteCells.add_missing_cells = True


class HideHiddenTracebacks(NbGraderPreprocessor):
    """In a hidden-test cell, keep only the error's message (the grader's
    teaching feedback): IPython's traceback quotes the cell's hidden code."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and "BEGIN HIDDEN TESTS" in cell.source:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output['ename']}: {output['evalue']}"]
        return cell, resources


# Feedback must not show hidden tests verbatim; nbgrader's default shows them.
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTracebacks, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
