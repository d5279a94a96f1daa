"""nbgrader settings for students: what the Validate button of the student JupyterLab uses.

tools/student-lab.sh puts this folder on JUPYTER_CONFIG_PATH, where nbgrader looks for this file.
"""

c = get_config()  # noqa: F821  (injected by nbgrader)

# The release tags answer and test cells `skip-execution` (for the site); Validate must still run
# them, or every notebook would validate without its tests ever running.
c.Execute.skip_cells_with_tag = "never-skipped-when-grading"
c.Execute.timeout = 120
