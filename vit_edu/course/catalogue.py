"""The course's lessons in teaching order, from one data file: titles, course map, headers, session plan.

``vit_edu/course/catalogue.toml`` lists the lessons in the order they are taught; a lesson's number
is its place there and its file is ``notebooks/NN_<topic>.ipynb``. From it (and from measured run
times, which the caller supplies) come every lesson's header card (:func:`header_markdown`: title,
"you are here" strip, paper sections, study and run time), the course map of the index and the
README (:func:`course_map`) and the teacher's session plan (:func:`session_plan`).
``python scripts/sync_lessons.py`` writes them into the lessons and documents;
``tests/course/test_catalogue.py`` fails when one of them disagrees with this file.
"""

from __future__ import annotations

import functools
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

from vit_edu.language import check_language, current_language, speaking, tr
from vit_edu.viz.architecture import STAGES

STRIP_NAME = "you_are_here.png"  # the header card's image attachment


@dataclass(frozen=True)
class Lesson:
    """One lesson: its number (place in the course), topic, title, one-line content, paper sections,
    study minutes, the model stages it is about and its session in the teacher's plan."""

    number: int
    topic: str
    title: str
    learn: str
    paper: str
    study: int
    stages: tuple[str, ...]
    session: int
    title_zh: str = ""
    learn_zh: str = ""

    def localized(self, field: str) -> str:
        """``title`` or ``learn`` in the course's current language (:func:`vit_edu.language.speaking`)."""
        return getattr(self, f"{field}_zh") if current_language() == "zh" else getattr(self, field)

    @property
    def label(self) -> str:
        """The two-digit number, e.g. ``"03"``."""
        return f"{self.number:02d}"

    @property
    def filename(self) -> str:
        """The notebook's file name, e.g. ``"02_self_attention.ipynb"``."""
        return f"{self.label}_{self.topic}.ipynb"


_FIELDS = ("topic", "title", "title_zh", "learn", "learn_zh", "paper", "study", "stages", "session")


def _lesson(number: int, entry: object) -> Lesson:
    if not isinstance(entry, dict) or sorted(entry) != sorted(_FIELDS):
        raise ValueError(f"catalogue.toml: lesson {number} must have exactly the fields {_FIELDS}, got {entry!r}.")
    stages = tuple(entry["stages"])
    unknown = [stage for stage in stages if stage not in STAGES]
    if not stages or unknown:
        raise ValueError(f"catalogue.toml: lesson {entry['topic']!r} has stages {unknown or stages}; choose among "
                         f"{tuple(STAGES)}.")
    return Lesson(number, entry["topic"], entry["title"], entry["learn"], entry["paper"], int(entry["study"]), stages,
                  int(entry["session"]), entry["title_zh"], entry["learn_zh"])


@functools.cache
def _data() -> dict:
    return tomllib.loads((resources.files("vit_edu.course") / "catalogue.toml").read_text(encoding="utf-8"))


@functools.cache
def load_catalogue() -> tuple[Lesson, ...]:
    """The lessons in teaching order, numbered from 1 (lesson 00 is the index)."""
    lessons = tuple(_lesson(number, entry) for number, entry in enumerate(_data()["lesson"], start=1))
    topics = [lesson.topic for lesson in lessons]
    if len(set(topics)) != len(topics):
        raise ValueError(f"catalogue.toml: a topic appears twice in {topics}.")
    sessions = len(_data()["session"])
    if sorted({entry.session for entry in lessons}) != list(range(1, sessions + 1)):
        raise ValueError(f"catalogue.toml: every session 1..{sessions} needs lessons, and every lesson a session.")
    return lessons


def lesson(topic: str) -> Lesson:
    """The lesson of ``topic`` (e.g. ``"self_attention"``)."""
    for entry in load_catalogue():
        if entry.topic == topic:
            return entry
    raise ValueError(f"no lesson {topic!r}; the lessons are {[entry.topic for entry in load_catalogue()]}.")


def format_run_time(seconds: float, language: str = "en") -> str:
    """A measured run time as a reader wants it: "about 10 s", "about 2 min" (rounded up, never "0 s");
    in Chinese "约 10 秒", "约 2 分钟"."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"seconds must be a finite number >= 0, got {seconds!r}.")
    with speaking(language):
        if seconds < 90:
            return tr("about {seconds} s", seconds=max(5, 5 * math.ceil(seconds / 5)))
        return tr("about {minutes:g} min", minutes=math.ceil(seconds / 30) / 2)


def _run_time(run_seconds: Mapping[str, float], topic: str) -> str:
    if topic not in run_seconds:
        raise ValueError(f"no measured run time for lesson {topic!r}; run benchmarks/notebook_portability.py.")
    return format_run_time(run_seconds[topic], current_language())


_PAPER_ZH = (("Eq. ", "式 "), ("Fig. ", "图 "), ("Table ", "表 "), ("App. ", "附录 "), (", ", "，"))


def paper_sections(entry: Lesson, language: str = "en") -> str:
    """The paper sections a lesson covers, as written in ``language`` ("Fig. 7" is "图 7" in Chinese)."""
    check_language(language)
    text = entry.paper
    for english, chinese in _PAPER_ZH if language == "zh" else ():
        text = text.replace(english, chinese)
    return text


def header_markdown(entry: Lesson, run_seconds: Mapping[str, float], language: str = "en") -> str:
    """A lesson's header card: title, the "you are here" strip (attachment :data:`STRIP_NAME`), paper, times."""
    with speaking(language):
        return "\n".join([
            tr("# Lesson {label} — {title}", label=entry.label, title=entry.localized("title")),
            "",
            tr("![You are here: the parts of ViT this lesson is about are in colour](attachment:{strip})",
               strip=STRIP_NAME),
            "",
            tr("**Paper:** {paper} · **Study time:** about {minutes} min · **Run time:** {run_time} on 2 CPU cores",
               paper=paper_sections(entry, language), minutes=entry.study,
               run_time=_run_time(run_seconds, entry.topic)),
        ])


def course_map(run_seconds: Mapping[str, float], link_prefix: str = "", language: str = "en") -> str:
    """The course map as a markdown table: number, linked title, what you learn, paper, study and run time.

    Args:
        run_seconds: topic -> measured run time of the lesson in seconds.
        link_prefix: put before each file name in the links (e.g. ``"notebooks/"`` from the README).
        language: "en" or "zh" (titles, contents and headings in Chinese).
    """
    with speaking(language):
        rows = [f"| {entry.label} | [{entry.localized('title')}]({link_prefix}{entry.filename}) | "
                f"{entry.localized('learn')} | {paper_sections(entry, language)} | "
                f"{tr('{minutes} min', minutes=entry.study)} | {_run_time(run_seconds, entry.topic)} |"
                for entry in load_catalogue()]
        total = sum(entry.study for entry in load_catalogue())
        return "\n".join([tr("| # | lesson | what you learn | paper | study time | run time |"),
                          "|---|---|---|---|---|---|", *rows, "",
                          tr("Study time in all: about {hours:g} hours. Run time: each lesson alone on 2 CPU cores, "
                             "as measured by `benchmarks/notebook_portability.py`.", hours=round(total / 60, 1))])


ARCHITECTURE_CAPTION = (
    "![The Vision Transformer in the style of the paper's Fig. 1](attachment:vit.png)\n\n"
    "*Read it from the bottom up: the image is cut into patches, each flattened patch is projected to $D$ "
    "numbers by one shared matrix $E$, a learned [class] token is put in front and a position embedding added "
    "to every token, $L$ pre-norm encoder blocks (right) mix the tokens, and the MLP head reads the class "
    "token's output. Every lesson opens with a strip of this figure, the parts it is about in colour.*"
)


def architecture_caption(language: str = "en") -> str:
    """The index's architecture cell: the figure (attachment ``vit.png``) and how to read it."""
    with speaking(language):
        return tr(ARCHITECTURE_CAPTION)


def session_plan() -> str:
    """The teacher's plan: one row per session, its lessons with their start time and study minutes, what
    students leave with."""
    rows = []
    for number, session in enumerate(_data()["session"], start=1):
        entries = [entry for entry in load_catalogue() if entry.session == number]
        minutes = sum(entry.study for entry in entries)
        starts = [sum(e.study for e in entries[:i]) for i in range(len(entries))]
        names = "; ".join(f"{start // 60}:{start % 60:02d} {entry.label} {entry.title} ({entry.study} min)"
                          for start, entry in zip(starts, entries))
        rows.append(f"| {number}. {session['title']} (about {minutes // 60} h {minutes % 60:02d}) | {names} | "
                    f"{session['outcome']} |")
    return "\n".join(["| session | lessons (start, study time) | what students leave with |", "|---|---|---|", *rows])
