"""The gradebook in a real PostgreSQL server: ``grade``, ``grade-manual`` and ``export`` with ``--db URL``.

The test starts a throwaway PostgreSQL cluster of its own (``initdb`` into a temporary folder,
``pg_ctl start`` on a free port of 127.0.0.1, as an unprivileged user since postgres refuses to run
as root), creates a login role with a password and a database, and lays out the same small class
twice: one course on nbgrader's default SQLite gradebook, one whose ``nbgrader generate_assignment``
ran with ``--db postgresql://...``. Both are graded by ``python -m coursetools grade`` at the same
time; the gradebooks, grades.csv, the summary tables and the hand-graded resolution must agree, the
feedback must come from the PostgreSQL grades (no SQLite file may appear in that course), and an
unreachable server must stop the run before anyone is graded, naming the URL without its password.
Kernels run unjailed (``--no-sandbox``: trusted submissions; the jail has its own tests), so this
needs neither root nor bubblewrap; it is skipped only where PostgreSQL's programs are not installed
(Debian: ``apt-get install postgresql``, which tools/install.sh does as root).
"""

import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from coursetools import ROOT
from coursetools.__main__ import main as cli_main
from coursetools.execute import kernel_env
from tests.grader_bank.cases import CHAPTER
from tests.grader_bank.small_class import STUDENTS, free_port, new_class, read_csv, scores
from tests.test_grader_cli import table

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("grader-db")]

PROGRAMS = ("initdb", "pg_ctl", "postgres")
ROLE, PASSWORD, DATABASE, EMPTY = "grader", "s3cret-pw", "course", "empty"


def postgres_programs():
    """{program: path} of PostgreSQL's server programs: on PATH, else Debian's newest
    /usr/lib/postgresql/<version>/bin; None if they are not installed."""
    folders = [None] + sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                              key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
                              reverse=True)
    for folder in folders:
        found = {name: shutil.which(name, path=folder) for name in PROGRAMS}
        if all(found.values()):
            return found
    return None


class Server:
    """A PostgreSQL cluster in a temporary folder, run by an unprivileged user (``postgres``, else
    ``nobody``) when this process is root, by this user otherwise; trust over its unix socket,
    passwords (scram) over TCP."""

    def __init__(self, programs):
        self.programs = programs
        self.folder = Path(tempfile.mkdtemp(prefix="coursetools-pg-"))  # /tmp: reachable by that user
        self.port = free_port()
        self.prefix = []
        if os.geteuid() == 0:
            user = next((u for u in ("postgres", "nobody") if _has_user(u)), None)
            if user is None:
                pytest.fail("running as root, and neither a postgres nor a nobody user to run PostgreSQL")
            entry = pwd.getpwnam(user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
            self.prefix = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups"]
        os.chmod(self.folder, 0o700)
        self.data = self.folder / "data"

    def run(self, *argv):
        proc = subprocess.run([*self.prefix, *argv], capture_output=True, text=True, timeout=120,
                              cwd=self.folder)
        if proc.returncode != 0:
            log = self.folder / "server.log"
            detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(f"{' '.join(argv[:2])} failed ({proc.returncode}): {proc.stderr[-2000:]}\n{detail}")
        return proc

    def start(self):
        self.run(self.programs["initdb"], "-D", str(self.data), "-U", "postgres", "-E", "UTF8", "--locale=C",
                 "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync")
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.run(self.programs["pg_ctl"], "-D", str(self.data), "-o", options, "-l",
                 str(self.folder / "server.log"), "-w", "-t", "60", "start")
        import psycopg

        # The superuser over the unix socket (trust); the grader's role logs in over TCP with its password.
        with psycopg.connect(host=str(self.folder), port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
            conn.execute(f"CREATE DATABASE {DATABASE} OWNER {ROLE}")
            conn.execute(f"CREATE DATABASE {EMPTY} OWNER {ROLE}")
        return f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"

    def stop(self):
        if (self.data / "postmaster.pid").exists():
            subprocess.run([*self.prefix, self.programs["pg_ctl"], "-D", str(self.data), "-m", "fast", "-w",
                            "stop"], capture_output=True, timeout=120)
        shutil.rmtree(self.folder, ignore_errors=True)


def _has_user(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="module")
def server():
    programs = postgres_programs()
    if programs is None:
        pytest.skip("PostgreSQL's server programs (initdb, pg_ctl, postgres) are not installed; "
                    "Debian: apt-get install postgresql")
    pg = Server(programs)
    try:
        yield pg.start()
    finally:
        pg.stop()


def grade_cmd(c, *extra):
    return subprocess.Popen([sys.executable, "-m", "coursetools", "grade", CHAPTER, "--course", str(c.root),
                             "--jobs", "1", "--timeout", "60", "--no-sandbox", *extra],
                            cwd=ROOT, env=kernel_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.fixture(scope="module")
def graded(server, tmp_path_factory):
    """(sqlite course, its grade result, PostgreSQL course, its grade result)."""
    tmp = tmp_path_factory.mktemp("grader-db")
    lite = new_class(tmp / "sqlite", tmp)
    pg = new_class(tmp / "postgres", tmp, db=server)
    runs = [grade_cmd(lite), grade_cmd(pg, "--db", server)]
    results = []
    for proc in runs:
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr[-3000:]
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return lite, results[0], pg, results[1]


def test_grades_equal_sqlite(graded):
    lite, lite_run, pg, pg_run = graded
    theirs, ours = scores(lite), scores(pg)
    assert ours == theirs
    assert sum(auto for auto, _, _ in ours["reference"].values()) == 6.0  # the comparison means something
    assert all(needs for _, _, needs in ours["broken"].values())
    assert table(pg_run.stdout) == table(lite_run.stdout)
    assert read_csv(pg.root / "grades.csv") == read_csv(lite.root / "grades.csv")


def test_feedback_reads_postgres(graded):
    _, _, pg, pg_run = graded
    for student in STUDENTS:
        assert (pg.root / "feedback" / student / CHAPTER / f"{CHAPTER}.html").is_file(), student
    page = (pg.root / "feedback" / "reference" / CHAPTER / f"{CHAPTER}.html").read_text(encoding="utf-8")
    assert "Score: 6.0 / 6.0" in page
    # Nothing opened nbgrader's default SQLite gradebook in the PostgreSQL course (it would create it).
    assert not (pg.root / "gradebook.db").exists()
    assert PASSWORD not in pg_run.stdout + pg_run.stderr


def run(capsys, *args):
    try:
        code = cli_main(list(args))
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_grade_manual_and_export(graded, server, capsys, tmp_path):
    lite, _, pg, _ = graded
    for c, db in ((lite, ()), (pg, ("--db", server))):
        code, out, err = run(capsys, "grade-manual", CHAPTER, "broken", "--score", "3", "--reason",
                             "repaired the JSON", "--course", str(c.root), *db)
        assert code == 0, err
        assert table(out)["broken"]["score"] == "3"
        code, out, err = run(capsys, "export", "--course", str(c.root), *db, "--to",
                             str(tmp_path / c.root.name))
        assert code == 0, err
        assert PASSWORD not in out + err
    assert read_csv(tmp_path / "postgres") == read_csv(tmp_path / "sqlite")
    assert read_csv(tmp_path / "postgres")["broken"]["status"] == "graded by hand: repaired the JSON"
    assert not (pg.root / "gradebook.db").exists()


def test_unreachable_database_stops_before_grading(graded, capsys):
    _, _, pg, _ = graded
    before = sorted((p, p.stat().st_mtime_ns) for p in (pg.root / "autograded").rglob("*"))
    url = f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{free_port()}/{DATABASE}"
    for command in (["grade", CHAPTER, "--no-sandbox"], ["grade-manual", CHAPTER, "broken", "--score", "1",
                                                         "--reason", "x"], ["export"]):
        code, out, err = run(capsys, *command, "--course", str(pg.root), "--db", url)
        assert code == 2, (command, out, err)
        assert f"cannot open the gradebook database postgresql://{ROLE}:***@127.0.0.1:" in err, err
        assert "Connection refused" in err and PASSWORD not in out + err, err
    assert sorted((p, p.stat().st_mtime_ns) for p in (pg.root / "autograded").rglob("*")) == before
    code, _, err = run(capsys, "grade", CHAPTER, "--no-sandbox", "--course", str(pg.root), "--db", "no-url")
    assert code == 2 and "is not a database URL" in err
    empty = f"sqlite:///{pg.root / 'nothing.db'}"
    code, _, err = run(capsys, "grade", CHAPTER, "--no-sandbox", "--course", str(pg.root), "--db", empty)
    assert code == 2 and "no gradebook at" in err and not (pg.root / "nothing.db").exists()


def test_new_database_says_how_to_fill_it(server, tmp_path, capsys):
    """A reachable database that holds no such assignment: the run says to generate it there first."""
    shutil.copytree(ROOT / "tests" / "grading" / "example" / CHAPTER, tmp_path / "solutions" / CHAPTER)
    (tmp_path / "submitted").mkdir()
    empty = server.replace(f"/{DATABASE}", f"/{EMPTY}")
    code, _, err = run(capsys, "grade", CHAPTER, "--no-sandbox", "--course", str(tmp_path), "--db", empty)
    assert code == 2, err
    assert f"{CHAPTER!r} is not in the gradebook postgresql://{ROLE}:***@" in err, err
    assert f"nbgrader generate_assignment {CHAPTER} --db postgresql://{ROLE}:***@" in err, err
