"""Plain sequential ``nbgrader autograde`` against ``python -m coursetools grade``, same class.

    python benchmarks/grading.py [--per-chapter 8] [--jobs N] [chapters ...]

For each chapter (default: every chapter with exercises) a temporary course gets
``--per-chapter`` synthetic students, alternating the reference answers and bugs from the
chapter's bank; the class is graded twice, in two copies of the course, once by
``nbgrader autograde`` and once by ``python -m coursetools grade`` (sandboxed), both timed as
whole processes. Per-student totals must be equal; the speed ratio is printed.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from coursetools import bugs, chapter_slugs, course  # noqa: E402
from coursetools.execute import kernel_env  # noqa: E402


def enrol(c, chapter, n):
    bank = bugs.load(chapter)
    for i in range(n):
        answers = (c.bug_answers(chapter, bank[(i // 2) % len(bank)]) if bank and i % 2
                   else c.reference_answers(chapter))
        c.submit(f"s{i:02d}", chapter, answers)


def timed(argv, cwd):
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=kernel_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def totals(c, chapter, n):
    with c.gradebook() as gb:
        return {f"s{i:02d}": gb.find_submission(chapter, f"s{i:02d}").score for i in range(n)}


def bench(chapter, n, jobs, tmp):
    plain = course.create(tmp / chapter / "plain", [chapter])
    enrol(plain, chapter, n)
    ours = course.Course(tmp / chapter / "ours")
    shutil.copytree(plain.root, ours.root)
    t_plain = timed([sys.executable, "-m", "nbgrader", "autograde", chapter], plain.root)
    t_ours = timed([sys.executable, "-m", "coursetools", "grade", chapter, "--course", str(ours.root),
                    *(["--jobs", str(jobs)] if jobs else [])], ours.root)
    a, b = totals(plain, chapter, n), totals(ours, chapter, n)
    differ = {s: (a[s], b[s]) for s in a if a[s] != b[s]}
    print(f"{chapter}: {n} students, nbgrader {t_plain:.1f} s, coursetools grade {t_ours:.1f} s, "
          f"ratio {t_plain / t_ours:.2f}x" + (f", GRADES DIFFER {differ}" if differ else ", grades equal"),
          flush=True)
    return t_plain, t_ours, not differ


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapters", nargs="*")
    parser.add_argument("--per-chapter", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args(argv)
    chapters = args.chapters or [s for s in chapter_slugs() if bugs.load(s)]
    with tempfile.TemporaryDirectory() as tmp:
        runs = [bench(ch, args.per_chapter, args.jobs, Path(tmp)) for ch in chapters]
    plain, ours = sum(r[0] for r in runs), sum(r[1] for r in runs)
    print(f"total: nbgrader {plain:.1f} s, coursetools grade {ours:.1f} s, speed ratio {plain / ours:.2f}x")
    return 0 if all(r[2] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
