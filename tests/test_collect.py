"""``python -m coursetools collect`` on downloads laid out like Moodle's, Canvas's and by hand.

Each test builds a tiny course (two assignments' release notebooks) and a zip or folder in a
temporary folder; nothing runs nbgrader or a kernel.
"""

import json
import struct
import zipfile
from datetime import UTC, datetime

import pytest

from coursetools import collect
from coursetools.__main__ import main

ASSIGNMENT = "01-neuron"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"


def notebook(text):
    return json.dumps({"cells": [], "metadata": {"who": text}, "nbformat": 4, "nbformat_minor": 5}).encode()


@pytest.fixture
def course(tmp_path):
    root = tmp_path / "course"
    root.mkdir()
    config = 'c = get_config()\nc.CourseDirectory.release_directory = "chapters"\n'
    (root / "nbgrader_config.py").write_text(config)
    for slug in (ASSIGNMENT, "02-layer"):
        (root / "chapters" / slug).mkdir(parents=True)
        (root / "chapters" / slug / f"{slug}.ipynb").write_bytes(notebook("release"))
    return root


def make_zip(path, files):
    """A zip of {name: bytes or (bytes, date_time tuple, extra field)}."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            data, when, extra = data if isinstance(data, tuple) else (data, (2026, 1, 1, 0, 0, 0), b"")
            info = zipfile.ZipInfo(name, date_time=when)
            info.extra = extra
            archive.writestr(info, data)
    return path


def write_roster(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def submitted(course, student, name=NOTEBOOK):
    return course / "submitted" / student / ASSIGNMENT / name


def outcomes(report):
    """The sorted outcomes of the report's file lines, e.g. ['ignored', 'placed']."""
    return sorted(line.split(maxsplit=1)[0] for line in report.lines
                  if not line.startswith("not in this download"))


def test_moodle_zip_with_a_roster(course, tmp_path):
    source = make_zip(tmp_path / "moodle.zip", {
        "Alice Liddell_12345_assignsubmission_file_/01-neuron (1).ipynb":
            (notebook("alice"), (2026, 3, 1, 17, 5, 30), b""),
        "Bob Hatter_222_assignsubmission_file_/Copy of 01-neuron.ipynb": notebook("bob"),
        "Bob Hatter_222_assignsubmission_onlinetext_/onlinetext.html": b"<p>see notebook</p>",
        "Zed Nobody_999_assignsubmission_file_/01-neuron.ipynb": notebook("zed"),
    })
    roster = write_roster(tmp_path / "roster.csv", "id,name,platform_id\n"
                          "alice,Someone Else,12345\nbob,\"Hatter, Bob\",\ncarol,Carol C,\n")
    report = collect.collect(source, ASSIGNMENT, course, roster, zip_tz=UTC)
    assert submitted(course, "alice").read_bytes() == notebook("alice")  # matched by platform id
    assert submitted(course, "bob").read_bytes() == notebook("bob")  # by name, in the other order
    assert submitted(course, "alice", "timestamp.txt").read_text() == "2026-03-01 17:05:30.000000 UTC"
    assert outcomes(report) == ["ignored", "placed", "placed", "unmatched"]
    assert any("no roster row for 'Zed Nobody' (platform id 999)" in line for line in report.lines)
    assert report.lines[-1] == "not in this download, 1 of the roster: carol"
    assert report.needs_attention


def test_moodle_times_are_read_in_the_given_zone_and_nbgrader_reads_them_back(course, tmp_path):
    from nbgrader.utils import parse_utc

    source = make_zip(tmp_path / "moodle.zip", {
        "Alice Liddell_12345_assignsubmission_file_01-neuron.ipynb":
            (notebook("alice"), (2026, 3, 1, 18, 0, 0), b""),
    })
    collect.collect(source, ASSIGNMENT, course, zip_tz=collect.ZoneInfo("Europe/Paris"))
    stamp = submitted(course, "alice-liddell", "timestamp.txt").read_text()
    assert parse_utc(stamp) == datetime(2026, 3, 1, 17, 0, 0)


def test_canvas_zip_uses_the_entries_utc_time(course, tmp_path):
    utc = int(datetime(2026, 3, 2, 9, 30, tzinfo=UTC).timestamp())
    extended_time = struct.pack("<HHBi", 0x5455, 5, 1, utc)
    source = make_zip(tmp_path / "canvas.zip", {
        "liddellalice_12345_67890_01-neuron-1.ipynb":
            (notebook("alice"), (2026, 3, 2, 1, 0, 0), extended_time),
        "hatterbob_late_222_333_01-neuron.ipynb": notebook("bob"),
    })
    roster = write_roster(tmp_path / "roster.csv", "ID,Name\nalice,Alice Liddell\nbob,Bob Hatter\n")
    report = collect.collect(source, ASSIGNMENT, course, roster)
    assert outcomes(report) == ["placed", "placed"]
    assert submitted(course, "alice", "timestamp.txt").read_text() == "2026-03-02 09:30:00.000000 UTC"
    assert submitted(course, "bob").read_bytes() == notebook("bob")


def test_plain_folder(course, tmp_path):
    source = tmp_path / "inbox"
    files = {"carol.ipynb": "carol", "dave/my work.ipynb": "dave", "erin/02-layer.ipynb": "erin",
             "frank/01-neuron.ipynb": "frank", "frank/01-neuron (1).ipynb": "frank again",
             "grace/.ipynb_checkpoints/01-neuron-checkpoint.ipynb": "junk", "Hal Smith.ipynb": "hal"}
    for name, who in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(notebook(who))
    report = collect.collect(source, ASSIGNMENT, course)
    assert submitted(course, "carol").read_bytes() == notebook("carol")
    assert submitted(course, "dave").read_bytes() == notebook("dave")  # an only notebook, renamed
    assert not (course / "submitted" / "erin").exists()  # another assignment's notebook
    assert not (course / "submitted" / "frank").exists()  # two candidates: the instructor decides
    assert not submitted(course, "carol", "timestamp.txt").exists()  # copy times are no submission times
    assert outcomes(report) == ["placed", "placed", "unmatched", "unmatched", "unmatched", "unmatched"]
    text = "\n".join(report.lines)
    assert "erin/02-layer.ipynb: not a notebook of this assignment (01-neuron.ipynb)" in text
    assert "frank/01-neuron (1).ipynb: one of 2 files that could be 01-neuron.ipynb" in text
    assert "'Hal Smith' cannot be a student id" in text


def test_never_overwrites_without_force_and_keeps_a_backup(course, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "alice.ipynb").write_bytes(notebook("first"))
    assert outcomes(collect.collect(inbox, ASSIGNMENT, course)) == ["placed"]
    assert outcomes(collect.collect(inbox, ASSIGNMENT, course)) == ["unchanged"]
    (inbox / "alice.ipynb").write_bytes(notebook("second"))
    kept = collect.collect(inbox, ASSIGNMENT, course)
    assert outcomes(kept) == ["kept"] and kept.needs_attention
    assert submitted(course, "alice").read_bytes() == notebook("first")
    assert outcomes(collect.collect(inbox, ASSIGNMENT, course, dry_run=True, force=True)) == ["placed"]
    assert submitted(course, "alice").read_bytes() == notebook("first")
    forced = collect.collect(inbox, ASSIGNMENT, course, force=True)
    assert outcomes(forced) == ["placed"]
    assert submitted(course, "alice").read_bytes() == notebook("second")
    (backup,) = (course / "submitted" / collect.BACKUPS).glob(f"*/alice/{ASSIGNMENT}/{NOTEBOOK}")
    assert backup.read_bytes() == notebook("first")


def test_an_ambiguous_roster_name_is_unmatched(course, tmp_path):
    source = make_zip(tmp_path / "moodle.zip", {
        "Alice Liddell_1_assignsubmission_file_/01-neuron.ipynb": notebook("alice")})
    roster = write_roster(tmp_path / "roster.csv", "id,name\nalice1,Alice Liddell\nalice2,Liddell Alice\n")
    report = collect.collect(source, ASSIGNMENT, course, roster)
    assert outcomes(report) == ["unmatched"]
    assert "matches several roster rows: alice1, alice2" in report.lines[0]


def test_command_line_exit_codes(course, tmp_path, capsys):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "alice.ipynb").write_bytes(notebook("alice"))

    def run(*args, assignment=ASSIGNMENT, source=inbox):
        return main(["collect", assignment, str(source), "--course", str(course), *args])

    assert run() == 0
    (inbox / "Not An Id.ipynb").write_bytes(notebook("?"))
    assert run() == 1
    assert "1 unchanged, 0 kept, 1 unmatched" in capsys.readouterr().out
    assert run(assignment="99-none") == 2
    assert "no notebook in" in capsys.readouterr().err
    assert run(source=tmp_path / "missing.zip") == 2
    assert run("--timezone", "Mars/Base") == 2
    assert run("--roster", str(write_roster(tmp_path / "roster.csv", "name\nAlice\n"))) == 2
    assert "needs a header with an 'id' column" in capsys.readouterr().err


def test_nbgraders_default_release_folder(tmp_path):
    course = tmp_path / "course"
    (course / "release" / ASSIGNMENT).mkdir(parents=True)
    (course / "release" / ASSIGNMENT / NOTEBOOK).write_bytes(notebook("release"))
    (course / "nbgrader_config.py").write_text("c = get_config()\n")
    inbox = tmp_path / "inbox"
    (inbox / "alice").mkdir(parents=True)
    (inbox / "alice" / NOTEBOOK).write_bytes(notebook("alice"))
    assert outcomes(collect.collect(inbox, ASSIGNMENT, course)) == ["placed"]
    assert submitted(course, "alice").read_bytes() == notebook("alice")
