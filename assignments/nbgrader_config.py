"""nbgrader's configuration for the micrograd course.

nbgrader reads this file from the working directory only: run every nbgrader
command from assignments/ (grader/notebooks.py and builder/notebooks.py do).
The notebooks under source/ are generated: edit builder/notebooks.py, then run
`python -m builder notebooks`.
"""

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades, NbGraderPreprocessor

c = get_config()  # noqa: F821 (nbgrader defines get_config when it loads this file)

c.CourseDirectory.course_id = "micrograd"
c.CourseDirectory.db_assignments = [{"name": "a1_value"}, {"name": "a2_backprop"}, {"name": "a3_training"}]

# A short cell timeout: an infinite loop costs 10 s per cell instead of 30 s.
# The longest cell (training on the moons, a3) takes about 4 s.
c.Execute.timeout = 10
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
