"""The rule "this answer must not use the reference library", in one place.

An answer cell whose text carries the line ``# nnlib: forbidden ...`` (the mark:
:func:`coursetools.vocabulary.forbids_nnlib`) may not reach ``nnlib``,
``autograd``, ``coursetools`` or ``importlib``, nor the builtins that import or run text as code.
The hardened grader applies it to the source notebook's mark (a submission that breaks it goes to
manual grading), and :mod:`coursetools.checks` to the student's own cell when a visible test runs,
so the student hears about it before the grader does. Only the standard library is used: this
module is imported in student kernels.
"""

import ast

FORBIDDEN_MODULES = {"nnlib", "autograd", "coursetools", "importlib"}
# Ways to import without an import statement, or to run text as code.
ESCAPE_NAMES = {"__import__", "exec", "eval", "compile", "__builtins__", "modules", "import_module",
                "run_line_magic", "run_cell"}


def forbidden_imports(code):
    """Reasons why ``code`` (an answer cell) may reach a forbidden module; [] if none is seen."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []  # it fails on its own when run
    reasons = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.Name) and node.id in ESCAPE_NAMES:
            names = [node.id]
        elif isinstance(node, ast.Attribute) and node.attr in ESCAPE_NAMES:
            names = [node.attr]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [m for m in FORBIDDEN_MODULES if m in node.value]
        else:
            continue
        for name in names:
            root = name.split(".")[0]
            if root in FORBIDDEN_MODULES or name in ESCAPE_NAMES:
                reasons.append(f"line {node.lineno}: {name}")
    return reasons
