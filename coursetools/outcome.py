"""What grading made of one submission: graded, awaiting a human (and why), or graded by hand.

The words are part of the interface: grades.csv, the run's table, the status files in
``autograded/.coursetools/`` and the students' pages all show :attr:`Outcome.text`, and
:meth:`Outcome.parse` is the one place that reads such a text back.
"""

from dataclasses import dataclass

GRADED = "graded"
MANUAL = "needs manual grading"
BY_HAND = "graded by hand"
# Two states that are not a grading result but still fill the status column.
NOT_GRADED = "not graded"
NO_SUBMISSION = "no submission"
# Reasons that are the grader's own failure: the student is told so, not shown the internals.
GRADER_ERROR = "grader error"
WORKER_FAILED = "worker failed"
KINDS = (GRADED, MANUAL, BY_HAND, NOT_GRADED, NO_SUBMISSION)


class ManualGrading(Exception):
    """This submission needs a human; the message is the reason (raised by any stage of grading)."""


@dataclass(frozen=True)
class Outcome:
    kind: str
    reason: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown outcome {self.kind!r}")

    @classmethod
    def manual(cls, reason):
        return cls(MANUAL, reason)

    @classmethod
    def parse(cls, text):
        kind, _, reason = text.partition(": ")
        return cls(kind, reason)

    @property
    def text(self):
        return f"{self.kind}: {self.reason}" if self.reason else self.kind

    @property
    def graded(self):
        return self.kind == GRADED

    @property
    def awaits_human(self):
        return self.kind == MANUAL

    @property
    def by_hand(self):
        return self.kind == BY_HAND

    def student_reason(self):
        """What a student may read of it: the grader's own failures carry internals, not reasons."""
        reason = self.reason or self.kind
        if reason.startswith((GRADER_ERROR, WORKER_FAILED)):
            return "the grader itself failed on it (this is not a problem found in your work)."
        return reason
