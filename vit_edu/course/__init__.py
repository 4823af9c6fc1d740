"""What every lesson uses: its set-up (threads and seed, the same on every machine) and the
course's numeric claims, each with a tolerance measured over seeds and CPUs.

    from vit_edu.course import setup_lesson, expect
"""

from vit_edu.course.claims import CLAIMS, Claim, expect
from vit_edu.course.lesson import setup_lesson

__all__ = ["CLAIMS", "Claim", "expect", "setup_lesson"]
