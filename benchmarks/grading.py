"""Plain nbgrader against ``python -m coursetools grade``, same class, same artifacts.

    python benchmarks/grading.py [--per-chapter 8] [--jobs N] [chapters ...]
    python benchmarks/grading.py --dask [--per-chapter 8] [chapters ...]

For each chapter (default: every chapter with exercises) a temporary course gets
``--per-chapter`` synthetic students, alternating the reference answers and bugs from the
chapter's bank, and is copied three times. All timings are of whole processes:

* full pipeline (the headline): ``nbgrader autograde`` + ``nbgrader generate_feedback`` +
  ``nbgrader export``, summed, against one ``python -m coursetools grade`` (sandboxed), which
  writes the same artifacts: autograded notebooks, gradebook scores, feedback HTML and a CSV;
* autograde only: ``nbgrader autograde`` against ``python -m coursetools grade --grades-only``
  (autograded notebooks and gradebook scores, no feedback, no CSV).

Per-student totals of both of our runs must equal nbgrader's; the speed ratios are printed per
chapter and in total, with the load average before and after.

``--dask`` measures ``python -m coursetools grade --scheduler`` instead (full pipeline, sandboxed):
a ``dask scheduler`` and ``dask worker --nthreads 1`` processes on 127.0.0.1, the class graded with
one worker, then again (in a copy) once a second worker has joined; the two gradebooks must agree.
Feedback runs in the client either way (``--jobs`` processes), so only grading is spread.
"""

import argparse
import contextlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# Measure this checkout, wherever an editable install of the package happens to point.
REPO = str(Path(__file__).resolve().parents[1])
sys.path.insert(0, REPO)

from coursetools import bugs, chapter_slugs, course  # noqa: E402
from coursetools.execute import kernel_env  # noqa: E402

PLAIN = ("autograde", "generate_feedback", "export")  # nbgrader export takes no assignment


def enrol(c, chapter, n):
    bank = bugs.load(chapter)
    for i in range(n):
        answers = (c.bug_answers(chapter, bank[(i // 2) % len(bank)]) if bank and i % 2
                   else c.reference_answers(chapter))
        c.submit(f"s{i:02d}", chapter, answers)


CPU = {}  # argv tuple -> CPU seconds (user + sys) of the whole process tree, kernels included
# A jailed kernel that the grader kills is not always waited for by its parent, so its CPU time may
# never reach getrusage(RUSAGE_CHILDREN); a cgroup of its own counts every process of a run. Where
# cgroup v1's cpuacct cannot be written (not root, cgroup v2 only), rusage is the fallback.
CPUACCT = Path("/sys/fs/cgroup/cpuacct")


def _cgroup(name):
    folder = CPUACCT / f"coursetools-bench-{os.getpid()}-{name}"
    try:
        folder.mkdir()
        int((folder / "cpuacct.usage").read_text())
        return folder
    except (OSError, ValueError):
        return None


def timed(argv, cwd):
    """Wall-clock seconds of ``argv``; its process tree's CPU seconds go into ``CPU``."""
    group = _cgroup(len(CPU))
    join = (lambda: (group / "cgroup.procs").write_text(str(os.getpid()))) if group else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env={**kernel_env(), "PYTHONPATH": REPO},
                          capture_output=True, text=True, preexec_fn=join)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if group:
        time.sleep(0.5)  # processes killed at the end of the run leave their group
        CPU[tuple(argv)] = int((group / "cpuacct.usage").read_text()) / 1e9
        with contextlib.suppress(OSError):
            group.rmdir()
    else:
        CPU[tuple(argv)] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stderr[-3000:]}")
    return wall


def totals(c, chapter, n):
    with c.gradebook() as gb:
        return {f"s{i:02d}": gb.find_submission(chapter, f"s{i:02d}").score for i in range(n)}


def bench(chapter, n, jobs, tmp):
    """Seconds {plain step: t, "ours": t, "ours --grades-only": t}, and whether the grades agree."""
    plain = course.create(tmp / chapter / "plain", [chapter])
    enrol(plain, chapter, n)
    ours, grades_only = course.Course(tmp / chapter / "ours"), course.Course(tmp / chapter / "grades-only")
    shutil.copytree(plain.root, ours.root)
    shutil.copytree(plain.root, grades_only.root)
    times = {}

    def run(key, argv, cwd):
        times[key] = timed(argv, cwd)
        times[f"cpu {key}"] = CPU[tuple(argv)]

    for step in PLAIN:
        run(step, [sys.executable, "-m", "nbgrader", step, *([chapter] if step != "export" else [])],
            plain.root)
    ours_cmd = [sys.executable, "-m", "coursetools", "grade", chapter]
    ours_cmd += ["--jobs", str(jobs)] if jobs else []
    run("ours", [*ours_cmd, "--course", str(ours.root)], ours.root)
    run("ours --grades-only", [*ours_cmd, "--grades-only", "--course", str(grades_only.root)],
        grades_only.root)
    expected = totals(plain, chapter, n)
    differ = {s: (expected[s], got[s]) for got in (totals(ours, chapter, n), totals(grades_only, chapter, n))
              for s in expected if expected[s] != got[s]}
    print(f"{chapter}: {n} students, " + summary(times)
          + (f", GRADES DIFFER {differ}" if differ else ", grades equal"), flush=True)
    return times, not differ


def bench_dask(chapter, n, jobs, tmp):
    """Seconds of one ``coursetools grade --scheduler`` run with one Dask worker, then with two."""
    from coursetools import cluster

    base = course.create(tmp / chapter / "dask-base", [chapter])
    enrol(base, chapter, n)
    times, courses = {}, {}
    env = {**kernel_env(), "PYTHONPATH": REPO}
    with cluster.LocalProcesses(tmp / chapter / "dask", env) as procs:
        address = procs.start_scheduler()
        for workers in (1, 2):
            courses[workers] = c = course.Course(tmp / chapter / f"dask-{workers}")
            shutil.copytree(base.root, c.root)
            procs.start_worker(f"worker-{workers}")
            procs.wait_for_workers(workers)
            argv = [sys.executable, "-m", "coursetools", "grade", chapter, "--scheduler", address,
                    "--course", str(c.root), *(["--jobs", str(jobs)] if jobs else [])]
            times[workers] = timed(argv, c.root)
    one, two = totals(courses[1], chapter, n), totals(courses[2], chapter, n)
    differ = {s: (one[s], two[s]) for s in one if one[s] != two[s]}
    print(f"{chapter}: {n} students, coursetools grade --scheduler: 1 Dask worker {times[1]:.1f} s, "
          f"2 workers {times[2]:.1f} s = {times[1] / times[2]:.2f}x"
          + (f", GRADES DIFFER {differ}" if differ else ", grades equal"), flush=True)
    return times, not differ


def summary(times):
    full = sum(times[step] for step in PLAIN)
    return (f"full pipeline: nbgrader {full:.1f} s (autograde {times['autograde']:.1f} + feedback "
            f"{times['generate_feedback']:.1f} + export {times['export']:.1f}) vs coursetools grade "
            f"{times['ours']:.1f} s = {full / times['ours']:.2f}x; autograde only: nbgrader autograde "
            f"{times['autograde']:.1f} s vs coursetools grade --grades-only "
            f"{times['ours --grades-only']:.1f} s = {times['autograde'] / times['ours --grades-only']:.2f}x"
            + cpu_summary(times))


def cpu_summary(times):
    """The same two ratios in CPU seconds (user + sys of each process tree), which load from other
    processes barely changes: with 2 jobs, a wall-clock ratio is at most 2x the CPU ratio."""
    if "cpu ours" not in times:
        return ""
    full = sum(times[f"cpu {step}"] for step in PLAIN)
    return (f"; CPU time: full pipeline nbgrader {full:.1f} s vs coursetools grade {times['cpu ours']:.1f} s"
            f" = {full / times['cpu ours']:.2f}x, autograde {times['cpu autograde']:.1f} s vs --grades-only "
            f"{times['cpu ours --grades-only']:.1f} s = "
            f"{times['cpu autograde'] / times['cpu ours --grades-only']:.2f}x")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapters", nargs="*")
    parser.add_argument("--per-chapter", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--dask", action="store_true", help="one Dask worker against two (see above)")
    args = parser.parse_args(argv)
    chapters = args.chapters or [s for s in chapter_slugs() if bugs.load(s)]
    print(f"load average before: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs; CPU time from "
          + ("a cgroup per run (cpuacct)" if CPUACCT.is_dir() and os.access(CPUACCT, os.W_OK)
             else "getrusage (a killed kernel's time may be missing)"), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        runs = [(bench_dask if args.dask else bench)(ch, args.per_chapter, args.jobs, Path(tmp))
                for ch in chapters]
    total = {key: sum(times[key] for times, _ in runs) for key in runs[0][0]}
    if args.dask:
        print(f"total ({len(chapters)} chapters): 1 Dask worker {total[1]:.1f} s, 2 workers {total[2]:.1f} s "
              f"= {total[1] / total[2]:.2f}x")
    else:
        print(f"total ({len(chapters)} chapters): " + summary(total))
    print(f"load average after: {os.getloadavg()[0]:.2f} (1 min)")
    return 0 if all(ok for _, ok in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
