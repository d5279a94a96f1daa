"""nbgrader configuration for this repository's layout.

Run the plain nbgrader commands from the repository root:
  solutions/<chapter>/<chapter>.ipynb   the instructor source (nbgrader's "source")
  chapters/<chapter>/<chapter>.ipynb    the student release (nbgrader's "release")
  submitted/, autograded/, feedback/, gradebook.db   created by nbgrader, never committed
"""

c = get_config()  # noqa: F821  (injected by nbgrader)

c.CourseDirectory.course_id = "nn-backprop"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "chapters"

c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\nraise NotImplementedError()",
}
# A stuck submission must not hold up the class; the longest reference cell runs in ~2 s.
c.ExecutePreprocessor.timeout = 120
c.Execute.timeout = 120
# Students see which test failed and why, never the hidden test source. Clearing the hidden
# source is not enough: IPython's default traceback quotes the lines around the failing one, so
# the kernels that grade print only the exception and its message (which carries the diagnosis).
c.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:", "--InteractiveShell.xmode=Minimal"]
# The release tags answer and test cells `skip-execution` for the site (and a student can add
# the tag too); the grading kernel must run every cell whatever its tags, or a test never runs
# and scores full marks.
c.Execute.skip_cells_with_tag = "never-skipped-when-grading"
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "nbgrader.preprocessors.ClearHiddenTests",
]
# nbgrader's feedback page loads MathJax from a CDN, so offline (students often get the page by
# e-mail) its formulas stay raw TeX. This exporter renders the same template without that loader
# and typesets the math into the page when it is written (coursetools/feedback/__init__.py).
from coursetools import feedback  # noqa: E402

c.GenerateFeedback.exporter_class = feedback.OfflineMathExporter
c.OfflineMathExporter.template_name = feedback.TEMPLATE_NAME
# nbgrader puts its own templates on the path only when this is unset; the template extends them.
c.OfflineMathExporter.extra_template_basedirs = [str(feedback.TEMPLATES), feedback.NBGRADER_TEMPLATES]
