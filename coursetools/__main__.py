"""``python -m coursetools <command>``: the course's maintenance commands.

  release        regenerate chapters/ (the student release) from solutions/
  check-release  fail if chapters/ is stale
  execute        run the solution notebooks and store their outputs in place
  site           build the public site (student release) into _build/html
  site --instructor   build the instructor site (with solutions) into _build/instructor
  collect        file a learning platform's download of submissions into submitted/
  grade          sandboxed, parallel, tamper-proof autograding of an nbgrader course
  grade-manual   grade by hand a submission the grader left to a human
  export         write the gradebook's grades.csv (scores, late penalties, statuses)
"""

import argparse
import sys

DB_HELP = ("the gradebook's SQLAlchemy URL, e.g. postgresql://user@host:5432/course (default: the "
           "course's CourseDirectory.db_url, else sqlite:///<course>/gradebook.db)")


def parse_grade_students(parser, argv):
    """``parser.parse_args``, with grade's students also after options (``grade A --jobs 1 erin``).

    argparse fills a ``nargs="*"`` positional at its first chance, before the options, and calls
    whatever comes after them unrecognized.
    """
    args, extra = parser.parse_known_args(argv)
    if args.command == "grade":
        args.students += [arg for arg in extra if not arg.startswith("-")]
        extra = [arg for arg in extra if arg.startswith("-")]
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m coursetools", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("release", help="regenerate chapters/ from solutions/")
    p.add_argument("chapters", nargs="*", help="chapter folders (default: all)")
    sub.add_parser("check-release", help="fail if chapters/ is stale")
    p = sub.add_parser("execute", help="run solution notebooks, storing outputs")
    p.add_argument("chapters", nargs="*", help="chapter folders (default: all)")
    p = sub.add_parser("site", help="build the site")
    p.add_argument("--instructor", action="store_true", help="build with solutions")
    p = sub.add_parser("collect", help="file a platform's zip or folder of submissions into submitted/ "
                                       "(see coursetools/collect.py)")
    p.add_argument("assignment")
    p.add_argument("source", help="the zip or folder the platform gave (Moodle, Canvas or plain)")
    p.add_argument("--course", default=".", help="the nbgrader course folder (default: .)")
    p.add_argument("--roster", help="CSV: id (student id), and name, login, platform_id, timestamp")
    p.add_argument("--force", action="store_true", help="replace different submissions (backup kept)")
    p.add_argument("--dry-run", action="store_true", help="report only, write nothing")
    p.add_argument("--timezone", default="UTC",
                   help="zone of times that carry none: zip entries, roster timestamps (default: UTC)")
    p = sub.add_parser("grade", help="sandboxed, parallel autograding (see coursetools/grade.py)")
    p.add_argument("assignment")
    p.add_argument("students", nargs="*", help="student ids (default: every submission)")
    p.add_argument("--course", default=".", help="the nbgrader course folder (default: .)")
    p.add_argument("--jobs", type=int, default=None, help="parallel workers (default: cores)")
    p.add_argument("--timeout", type=int, default=120, help="seconds per cell")
    p.add_argument("--no-sandbox", action="store_true", help="run kernels unjailed (trusted code only)")
    p.add_argument("--grades-only", action="store_true", help="skip feedback and grades.csv")
    p.add_argument("--db", metavar="URL", help=DB_HELP)
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="grade on a Dask cluster's workers (see coursetools/cluster.py); --jobs then "
                        "sets the local feedback processes")
    p = sub.add_parser("grade-manual", help="grade by hand a submission awaiting a human")
    p.add_argument("assignment")
    p.add_argument("student")
    p.add_argument("--score", type=float, required=True, help="total points, before any late penalty")
    p.add_argument("--reason", required=True, help="why (recorded, and shown on the student's page)")
    p.add_argument("--course", default=".", help="the nbgrader course folder (default: .)")
    p.add_argument("--force", action="store_true", help="replace a grade the submission already has")
    p.add_argument("--db", metavar="URL", help=DB_HELP)
    p = sub.add_parser("export", help="write grades.csv from the gradebook")
    p.add_argument("--course", default=".", help="the nbgrader course folder (default: .)")
    p.add_argument("--db", metavar="URL", help=DB_HELP)
    p.add_argument("--to", default=None, help="the CSV file (default: <course>/grades.csv)")
    args = parse_grade_students(parser, argv)

    if args.command == "release":
        from . import release

        for slug in release.generate(args.chapters or None):
            print(f"released chapters/{slug}")
    elif args.command == "check-release":
        from . import release

        problems = release.stale()
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print("run `python -m coursetools release` to regenerate chapters/", file=sys.stderr)
            return 1
        print("chapters/ is up to date with solutions/")
    elif args.command == "execute":
        from . import execute

        execute.run_all(args.chapters or None)
    elif args.command == "site":
        from . import site

        return site.build(instructor=args.instructor)
    elif args.command == "collect":
        from . import collect

        return collect.main(args)
    elif args.command in ("grade", "grade-manual", "export"):
        # jsonschema builds an Earley parser for the "iri" string format when it is imported (over a
        # second of start-up); notebook schemas use no string formats, so without that module
        # jsonschema simply leaves the format out and nbformat validates exactly as before.
        sys.modules.setdefault("rfc3987_syntax", None)
        from . import grade

        return {"grade": grade.main, "grade-manual": grade.main_manual, "export": grade.main_export}[
            args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
