"""Fast checks of the grader's database and Dask helpers (no server, no cluster, no root).

The real PostgreSQL server and the real Dask cluster are in tests/test_grader_db.py and
tests/test_grader_dask.py; here: URLs are printed without their password, bad database URLs and
scheduler addresses are named before anything connects, and what a Dask worker is sent (files, the
course's settings) comes back as it was.
"""

import pytest

from coursetools import checks, cluster, database, grade


def test_redact_hides_only_the_password():
    shown = database.redact("postgresql://grader:s3cret@db.example.edu:5432/course")
    checks.assert_true(shown == "postgresql://grader:***@db.example.edu:5432/course", f"redacted as {shown}")
    plain = "postgresql://grader@db.example.edu/course"
    checks.assert_true(database.redact(plain) == plain, "a URL without a password must be left alone")
    checks.assert_true(database.redact("not a url") == "not a url", "text that is no URL is shown as it is")


def test_bad_database_urls_are_named(tmp_path):
    cases = {"no-url": "is not a database URL",
             f"sqlite:///{tmp_path / 'missing.db'}": "no gradebook at",
             "mysql://grader:pw@127.0.0.1/course": "its driver is not installed"}
    for url, expected in cases.items():
        with pytest.raises(database.DatabaseError) as caught:
            database.check(url, "course", "01-neuron", "nbgrader generate_assignment 01-neuron")
        message = str(caught.value)
        checks.assert_true(expected in message, f"{url}: {message!r} does not say {expected!r}")
        checks.assert_true("pw@" not in message, f"{url}: the password is printed: {message!r}")
    checks.assert_true(not (tmp_path / "missing.db").exists(), "the check must not create a SQLite file")


def test_db_option_wins_over_the_course_config(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.course_id = "demo"\n'
        'c.CourseDirectory.db_url = "postgresql://grader@db.example.edu/from-config"\n', encoding="utf-8")
    url, course_id = grade.gradebook_url(tmp_path)
    checks.assert_true((url, course_id) == ("postgresql://grader@db.example.edu/from-config", "demo"),
                       f"the course's nbgrader_config.py was not read: {url}, {course_id}")
    url, _ = grade.gradebook_url(tmp_path, "sqlite:////elsewhere.db")
    checks.assert_true(url == "sqlite:////elsewhere.db", f"--db must win over the configuration: {url}")
    (tmp_path / "nbgrader_config.py").unlink()
    url, _ = grade.gradebook_url(tmp_path)
    checks.assert_true(url == f"sqlite:///{tmp_path / 'gradebook.db'}", f"nbgrader's default is {url}")


def test_what_a_worker_is_sent_round_trips(tmp_path):
    source = tmp_path / "source"
    (source / "data").mkdir(parents=True)
    (source / "a.ipynb").write_text("{}", encoding="utf-8")
    (source / "data" / "x.csv").write_bytes(b"1,2\n")
    (source / ".ipynb_checkpoints").mkdir()
    (source / ".ipynb_checkpoints" / "a-checkpoint.ipynb").write_text("{}", encoding="utf-8")
    tree = cluster.pack_tree(source)
    checks.assert_true(sorted(tree) == ["a.ipynb", "data/x.csv"], f"packed {sorted(tree)}")
    cluster.unpack(tree, tmp_path / "copy")
    checks.assert_true((tmp_path / "copy" / "data" / "x.csv").read_bytes() == b"1,2\n", "content changed")

    submission = tmp_path / "submitted"
    (submission / "odd.ipynb").mkdir(parents=True)  # a folder named like a notebook stays one
    (submission / "s.ipynb").write_text("{}", encoding="utf-8")
    (submission / "timestamp.txt").write_text("2026-05-31 10:00:00 UTC", encoding="utf-8")
    files = cluster.pack_submission(submission)
    checks.assert_true(files == {"odd.ipynb": None, "s.ipynb": b"{}",
                                 "timestamp.txt": b"2026-05-31 10:00:00 UTC"}, f"packed {files}")


def test_course_settings_reach_the_worker_as_literals(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text(
        'c = get_config()\nc.Execute.extra_arguments = ["--InteractiveShell.xmode=Minimal"]\n'
        'c.CourseDirectory.db_url = "postgresql://grader:pw@db/course"\n'
        'from nbgrader.preprocessors import ClearHiddenTests\nc.Demo.kind = ClearHiddenTests\n',
        encoding="utf-8")
    text = cluster.config_text(grade.course_config(tmp_path))
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "nbgrader_config.py").write_text(text, encoding="utf-8")
    again = grade.course_config(tmp_path / "worker")
    checks.assert_true(list(again.Execute.extra_arguments) == ["--InteractiveShell.xmode=Minimal"],
                       f"the worker's settings lost Execute.extra_arguments:\n{text}")
    checks.assert_true("pw" not in text and "ClearHiddenTests" not in text,
                       f"the URL or a class reached the worker's settings:\n{text}")


@pytest.mark.parametrize("address, expected", [("127.0.0.1", "missing port"),
                                               ("bogus://x:1", "unknown address")])
def test_bad_scheduler_addresses_are_named_at_once(address, expected):
    with pytest.raises(cluster.ClusterError) as caught:
        cluster.Remote(address)
    message = str(caught.value)
    checks.assert_true(message.startswith(f"cannot reach the Dask scheduler at {address}: ")
                       and expected in message, f"unexpected message {message!r}")
