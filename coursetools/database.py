"""Where a course's gradebook lives: nbgrader's SQLAlchemy database URL, SQLite or a server.

nbgrader keeps its gradebook in any database SQLAlchemy reaches; its own commands take the URL
from ``c.CourseDirectory.db_url`` in the course's ``nbgrader_config.py`` or from ``--db URL``, and
default to ``sqlite:///<course>/gradebook.db``. The grader resolves it the same way
(:func:`course_directory`: ``--db`` first, then the course's configuration, then nbgrader's
default), so ``grade``, ``grade-manual``, the CSV export and nbgrader's own feedback converter all
read and write one database. A department's PostgreSQL server is reached with
``postgresql://user[:password]@host:5432/dbname``: SQLAlchemy's default PostgreSQL driver is
psycopg (version 3), pinned in ``requirements.txt``.

:func:`check` opens the database once before a run grades anyone: an unreachable server, a wrong
URL, a missing driver or a missing SQLite file stop the run there, with the URL (its password
hidden) and the reason.
"""

import contextlib
import warnings
from pathlib import Path

# libpq waits for an unreachable host as long as the network lets it; the check gives up sooner.
CONNECT_TIMEOUT = 10


class DatabaseError(RuntimeError):
    """The gradebook's database cannot be used; the message names it (no password) and says why."""


def course_directory(course, config, db=None, log=None):
    """nbgrader's ``CourseDirectory`` of ``course`` under ``config``, pointed at ``db`` if given.

    Its ``db_url`` and ``course_id`` are the ones nbgrader's own commands would use in that folder
    (``--db`` first, then ``CourseDirectory.db_url`` from the configuration, else
    ``sqlite:///<course>/gradebook.db``). ``config`` is updated in place, so a converter built from
    it (``GenerateFeedback``) opens the same database.
    """
    from nbgrader.coursedir import CourseDirectory

    config.CourseDirectory.root = str(course)
    if db:
        config.CourseDirectory.db_url = db
    return CourseDirectory(config=config, **({"log": log} if log else {}))


def redact(url):
    """``url`` as it may be printed: its password replaced by ``***``."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: nothing in it is known to be a password
        return url


def sqlite_path(url):
    """The file of a SQLite URL (None for a server or an in-memory database)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


@contextlib.contextmanager
def open_gradebook(url, course_id):
    """nbgrader's ``Gradebook`` on ``url``, with SQLAlchemy's warnings about nbgrader's schema muted.

    Adding a student or submission makes SQLAlchemy warn (``SAWarning``) that nbgrader's models
    cascade objects not yet in the session; plain nbgrader warns the same on every autograde, and
    those are about nbgrader's code, not this class's grades.
    """
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        with Gradebook(url, course_id=course_id) as gb:
            yield gb


def _probe_url(url):
    """``url`` with a connect timeout for libpq drivers, unless it sets one itself."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if (parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("psycopg", "psycopg2")
            and "connect_timeout" not in parsed.query):
        parsed = parsed.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT)})
    return parsed.render_as_string(hide_password=False)


def reason(exc, url=None):
    """One line saying why a database call failed: the driver's own message where there is one."""
    text = str(getattr(exc, "orig", None) or exc).split("(Background on this error")[0]
    text = " ".join(text.split())
    from sqlalchemy.engine import make_url

    with contextlib.suppress(Exception):
        password = make_url(url).password if url else None
        if password:
            text = text.replace(str(password), "***")
    return f"{type(getattr(exc, 'orig', None) or exc).__name__}: {text[:400]}"


def check(url, course_id, assignment, generate_hint):
    """Open the gradebook at ``url`` once and find ``assignment`` in it; :class:`DatabaseError` if not.

    ``generate_hint`` is the command that would put the assignment there (shown when it is missing).
    """
    from sqlalchemy.exc import SQLAlchemyError

    shown = redact(url)
    try:
        path = sqlite_path(url)
    except Exception as exc:  # SQLAlchemy's ArgumentError for text that is no URL
        raise DatabaseError(f"--db {shown!r} is not a database URL ({reason(exc)}); expected e.g. "
                            "postgresql://user@host:5432/course or sqlite:////path/gradebook.db") from None
    if path is not None and not path.exists():
        raise DatabaseError(f"no gradebook at {path} ({shown}); run `{generate_hint}` first")
    try:
        with open_gradebook(_probe_url(url), course_id) as gb:
            names = {a.name for a in gb.assignments}
    except ImportError as exc:
        raise DatabaseError(f"cannot open the gradebook database {shown}: its driver is not installed "
                            f"({reason(exc)})") from None
    except (SQLAlchemyError, OSError, ValueError) as exc:
        raise DatabaseError(f"cannot open the gradebook database {shown}: {reason(exc, url)}") from None
    if assignment is not None and assignment not in names:
        raise DatabaseError(f"{assignment!r} is not in the gradebook {shown}; run `{generate_hint}` first")
