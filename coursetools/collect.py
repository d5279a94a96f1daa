"""``python -m coursetools collect``: file a learning platform's download into ``submitted/``.

nbgrader grades ``submitted/<student>/<assignment>/<notebook>.ipynb``; platforms hand out a zip
(or a folder) of renamed files. :func:`collect` reads one, in any of these layouts:

* Moodle, "Download all submissions": ``Alice Liddell_12345_assignsubmission_file_/<file>``
  (or, without folders, ``Alice Liddell_12345_assignsubmission_file_<file>``);
* Canvas, "Download submissions": ``liddellalice_12345_67890_<file>`` (``_late_`` after the
  name when late; ``-1``, ``-2`` before the extension when resubmitted);
* a plain folder or zip: ``<student>.ipynb`` or ``<student>/<anything>.ipynb``.

Paths are read from the top of the zip or folder (a zip of one folder holding the students'
files would make that folder a student: give the folder, unzipped, instead).

Who is who: with ``--roster`` (a CSV with an ``id`` column, the nbgrader student id, and any of
``name``, ``login``, ``platform_id``) each submission is matched by the platform's user id, then
by login, name (either order, case, accents and punctuation ignored) or id; one that matches no
row, or several, is reported unmatched. Without a roster the platform's name becomes the id
(``Alice Liddell`` -> ``alice-liddell``; a plain folder's name is kept as it is).

Which notebook: a student's only notebook is taken whatever its name (students rename files,
platforms append ``-1`` or `` (1)``), unless it is named after another assignment of the course;
with several, the ones whose name, without copy marks (``Copy of``, `` (1)``, ``-Copy1``, ``-1``),
is the assignment's notebook. It is filed under the name the release gave it.

When: Moodle and Canvas downloads carry each file's submission time as its modification time;
it goes into ``timestamp.txt`` for nbgrader's deadlines (a zip entry's time is read in
``--timezone``, default UTC, unless the entry carries its UTC time; an optional ``timestamp``
column of the roster, ISO times, overrides both). Plain folders give no time: their files'
modification times are when they were copied.

An existing, different submission is never replaced without ``--force``; with it, the old one
is moved to ``submitted/.collect-backups/<time>/`` (out of nbgrader's sight: not a student).
The report lists every file: placed, unchanged, kept (not replaced), unmatched and ignored.
"""

import csv
import re
import shutil
import struct
import sys
import unicodedata
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

from . import release

MOODLE = re.compile(r"^(?P<name>.+?)_(?P<uid>\d+)_assignsubmission_[a-z]+_(?P<rest>.*)$")
CANVAS = re.compile(r"^(?P<name>[a-z0-9]+)(?:_late)?_(?P<uid>\d+)_\d+_(?P<rest>.+)$", re.I)
# Marks that downloads, browsers, Jupyter and Drive add to a file name: "Copy of x", "x (1)",
# "x-Copy1", "x - Copy", and Canvas's resubmission number "x-1".
COPY_MARKS = re.compile(r"^(copy of )+|(\s*\(\d+\)|-copy\d*|\s+-\s+copy|-\d+)+$", re.I)
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")
JUNK = {"__MACOSX", ".DS_Store", ".ipynb_checkpoints", "Thumbs.db"}
BACKUPS = ".collect-backups"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"  # what nbgrader's own exchange writes in timestamp.txt


class CollectError(RuntimeError):
    """The source, the roster or the course cannot be read."""


@dataclass
class File:
    """One file of the download, and who the platform says sent it."""

    where: str  # its path in the download, for the report
    name: str  # its file name as the student saved it
    key: str  # the platform's name for the student
    uid: str | None  # the platform's user id, if it gives one
    platform: str  # "moodle", "canvas" or "plain"
    mtime: datetime | None
    read: object  # () -> bytes
    student: str | None = None


@dataclass
class Report:
    lines: list = field(default_factory=list)
    counts: dict = field(default_factory=lambda: defaultdict(int))

    def add(self, outcome, text):
        self.counts[outcome] += 1
        self.lines.append(f"{outcome:<10} {text}")

    @property
    def needs_attention(self):
        return any(self.counts[k] for k in ("unmatched", "kept"))

    def summary(self):
        order = ("placed", "unchanged", "kept", "unmatched", "ignored")
        return ", ".join(f"{self.counts[k]} {k}" for k in order)


def fold(text):
    """Lower-case letters and digits only: 'Élise O'Brien' -> 'eliseobrien'."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(re.findall(r"[a-z0-9]+", plain.lower()))


def name_keys(name):
    """The folded forms of a full name in both orders ('Alice Liddell', 'Liddell, Alice')."""
    words = [fold(w) for w in re.split(r"[\s,]+", name) if fold(w)]
    return {"".join(words), "".join(words[1:] + words[:1]), "".join(words[-1:] + words[:-1])} - {""}


def bare_stem(filename):
    """The notebook's name without the copy marks added on the way: 'Copy of 01-neuron (1)'."""
    return COPY_MARKS.sub("", PurePosixPath(filename).stem.strip()).strip()


# ---------------------------------------------------------------------------- the roster


@dataclass
class Roster:
    by_uid: dict
    by_key: dict
    times: dict
    ids: list

    def match(self, file):
        """(student id, None) or (None, why not) for a file of the download."""
        if file.uid and file.uid in self.by_uid:
            return self.by_uid[file.uid], None
        keys = {fold(file.key)} | name_keys(file.key)
        found = sorted({sid for k in keys for sid in self.by_key.get(k, ())})
        if len(found) == 1:
            return found[0], None
        who = f"{file.key!r}" + (f" (platform id {file.uid})" if file.uid else "")
        if found:
            return None, f"{who} matches several roster rows: {', '.join(found)}"
        return None, f"no roster row for {who}"


def read_roster(path, tz):
    """A :class:`Roster` from a CSV with an ``id`` column and any of name, login, platform_id, timestamp.

    Times without a zone (the ``timestamp`` column) are read in ``tz``.
    """
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [(name or "").strip().lower() for name in reader.fieldnames or ()]
        rows = [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items()} for row in reader]
    if "id" not in header:
        raise CollectError(f"{path}: a roster needs a header with an 'id' column (and name, login or "
                           f"platform_id to match the platform's files)")
    by_uid, by_key, times = {}, defaultdict(set), {}
    for line, row in enumerate(rows, start=2):
        sid = row["id"]
        if not SAFE_ID.match(sid):
            raise CollectError(f"{path}:{line}: {sid!r} cannot be a student id (letters, digits, . _ @ + -)")
        if row.get("platform_id"):
            by_uid[row["platform_id"]] = sid
        for key in {fold(sid), fold(row.get("login", ""))} | name_keys(row.get("name", "")):
            if key:
                by_key[key].add(sid)
        if row.get("timestamp"):
            times[sid] = parse_time(row["timestamp"], tz, f"{path}:{line}")
    return Roster(by_uid, dict(by_key), times, [row["id"] for row in rows])


def parse_time(text, tz, where):
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise CollectError(f"{where}: timestamp {text!r} is not an ISO time like 2026-03-01 17:05") from None
    return when if when.tzinfo else when.replace(tzinfo=tz)


# ---------------------------------------------------------------------------- the download


def identify(parts, mtime, read, where):
    """A :class:`File` for the file at ``parts`` (its path in the download), or None if it is junk."""
    if any(p in JUNK or p.startswith("._") for p in parts):
        return None
    for i, part in enumerate(parts):
        moodle = MOODLE.match(part)
        if moodle:
            name = moodle["rest"] if i == len(parts) - 1 else parts[-1]
            return File(where, name, moodle["name"], moodle["uid"], "moodle", mtime, read)
    canvas = CANVAS.match(parts[-1])
    if canvas and len(parts) == 1:
        return File(where, canvas["rest"], canvas["name"], canvas["uid"], "canvas", mtime, read)
    key = PurePosixPath(parts[0]).stem if len(parts) == 1 else parts[0]
    return File(where, parts[-1], key, None, "plain", None, read)


def zip_utc_mtime(extra):
    """The UTC modification time of a zip entry's "extended timestamp" field (0x5455), if any."""
    i = 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack("<HH", extra[i:i + 4])
        body = extra[i + 4:i + 4 + size]
        if tag == 0x5455 and len(body) >= 5 and body[0] & 1:
            return datetime.fromtimestamp(struct.unpack("<i", body[1:5])[0], UTC)
        i += 4 + size
    return None


def read_download(source, zip_tz):
    """Every file of ``source`` (a zip or a folder) as :class:`File`, junk left out."""
    source = Path(source)
    if zipfile.is_zipfile(source):
        archive = zipfile.ZipFile(source)
        for info in archive.infolist():
            if info.is_dir():
                continue
            mtime = zip_utc_mtime(info.extra) or datetime(*info.date_time, tzinfo=zip_tz)
            file = identify(PurePosixPath(info.filename).parts, mtime,
                            lambda info=info: archive.read(info), info.filename)
            if file:
                yield file
    elif source.is_dir():
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            file = identify(path.relative_to(source).parts, mtime, path.read_bytes,
                            path.relative_to(source).as_posix())
            if file:
                yield file
    else:
        raise CollectError(f"{source}: neither a zip file nor a folder")


# ---------------------------------------------------------------------------- filing


def assignment_notebooks(course, assignment):
    """(this assignment's notebook names, the bare names of the course's other assignments)."""
    config = release.nbgrader_config(course) if (course / "nbgrader_config.py").exists() else {}
    handout = course / config.get("CourseDirectory", {}).get("release_directory", "release")
    names = sorted(p.name for p in (handout / assignment).glob("*.ipynb"))
    if not names:
        raise CollectError(f"no notebook in {handout / assignment}: is {assignment!r} an assignment "
                           f"of the course in {course}?")
    others = {bare_stem(p.name) for p in handout.glob("*/*.ipynb") if p.parent.name != assignment}
    return names, others


def choose(files, names, others):
    """({notebook name: File}, [(File, why it was not taken)]) for one student's files."""
    by_name, left = defaultdict(list), []
    stems = {bare_stem(n): n for n in names}
    for file in files:
        stem = bare_stem(file.name)
        if stem in stems:
            by_name[stems[stem]].append(file)
        elif len(files) == 1 and len(names) == 1 and stem not in others:
            by_name[names[0]].append(file)
        else:
            left.append((file, f"not a notebook of this assignment ({', '.join(names)})"))
    chosen = {}
    for name, candidates in by_name.items():
        if len(candidates) == 1:
            chosen[name] = candidates[0]
        else:
            left += [(f, f"one of {len(candidates)} files that could be {name}") for f in candidates]
    return chosen, left


@dataclass(frozen=True)
class Target:
    """Where this run files submissions, and whether it may replace or write anything."""

    course: Path
    assignment: str
    force: bool
    dry_run: bool
    backups: Path  # this run's folder for the submissions it replaces

    def place(self, student, chosen, when):
        """File ``chosen`` ({notebook name: File}) for ``student``: (outcome, line of the report)."""
        contents = {name: file.read() for name, file in sorted(chosen.items())}
        if when:
            contents["timestamp.txt"] = when.astimezone(UTC).strftime(TIME_FORMAT).encode()
        folder = self.course / "submitted" / student / self.assignment
        outcome, note = self.write(folder, contents, self.backups / student / self.assignment)
        sources = ", ".join(f.where for f in chosen.values())
        submitted = f", submitted {contents['timestamp.txt'].decode()}" if when else ""
        return outcome, f"{student}: {sources} -> {folder.relative_to(self.course)}{submitted}{note}"

    def write(self, folder, contents, backup):
        """Make ``folder`` hold ``contents`` ({file name: bytes}) unless that would lose a submission."""
        before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} if folder.is_dir() else {}
        if before == contents:
            return "unchanged", ""
        if before and not self.force:
            return "kept", "; a different submission is already there: --force replaces it, keeping a backup"
        note = f"; the previous one is in {backup.relative_to(self.course)}" if before else ""
        if self.dry_run:
            return "placed", note
        if before:
            backup.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(folder), str(backup))
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in contents.items():
            (folder / name).write_bytes(data)
        return "placed", note


def collect(source, assignment, course=".", roster=None, force=False, dry_run=False, zip_tz=UTC):
    """File every submission of ``source`` under ``<course>/submitted/``; return the :class:`Report`."""
    course = Path(course).resolve()
    names, others = assignment_notebooks(course, assignment)
    roster = read_roster(roster, zip_tz) if roster else None
    report, by_student = Report(), defaultdict(list)
    for file in read_download(source, zip_tz):
        if not file.name.lower().endswith(".ipynb"):
            report.add("ignored", f"{file.where}: not a notebook")
            continue
        file.student, why = student_of(file, roster)
        if file.student:
            by_student[file.student].append(file)
        else:
            report.add("unmatched", f"{file.where}: {why}")
    run = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = Target(course, assignment, force, dry_run, course / "submitted" / BACKUPS / run)
    for student, files in sorted(by_student.items()):
        chosen, left = choose(files, names, others)
        for file, why in left:
            report.add("unmatched", f"{file.where}: {why}")
        if chosen:
            report.add(*target.place(student, chosen, submission_time(chosen.values(), roster, student)))
    if roster:
        missing = sorted(set(roster.ids) - set(by_student))
        if missing:
            report.lines.append(f"not in this download, {len(missing)} of the roster: {', '.join(missing)}")
    return report


def student_of(file, roster):
    """(student id, None) or (None, why not)."""
    if roster:
        return roster.match(file)
    if file.platform == "plain":
        if SAFE_ID.match(file.key):
            return file.key, None
        return None, f"{file.key!r} cannot be a student id (letters, digits, . _ @ + -); give a --roster"
    words = [fold(w) for w in re.split(r"[\s,]+", file.key) if fold(w)]
    return ("-".join(words), None) if words else (None, f"no usable name in {file.key!r}; give a --roster")


def submission_time(files, roster, student):
    """The roster's time for ``student`` if it gives one, else the latest the platform gave, or None."""
    if roster and student in roster.times:
        return roster.times[student]
    return max((f.mtime for f in files if f.mtime), default=None)


def main(args):
    try:
        zip_tz = ZoneInfo(args.timezone)
    except (KeyError, ValueError):
        print(f"collect: unknown time zone {args.timezone!r} (try UTC or Europe/Paris)", file=sys.stderr)
        return 2
    try:
        report = collect(args.source, args.assignment, args.course, args.roster, args.force,
                         args.dry_run, zip_tz)
    except (CollectError, OSError, zipfile.BadZipFile) as exc:
        print(f"collect: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report.lines))
    print(("dry run, nothing written: " if args.dry_run else "") + report.summary())
    return 1 if report.needs_attention else 0
