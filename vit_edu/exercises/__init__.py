"""Friendly checks for the lessons' exercises, one module per lesson topic.

Every ``check_*`` function takes the student's answer and returns a
:class:`~vit_edu.exercises.feedback.Feedback` that the notebook displays: it says what is wrong
(a shape, an off-by-one in N, a forgotten class token, ...) instead of only True/False, and it
never raises for a wrong answer. An unanswered exercise (the student edition's
``raise NotImplementedError``, or ``None``) gives a "not done yet" message.
"""

from vit_edu.exercises.feedback import Feedback, not_done, run_student_code
from vit_edu.exercises.predictions import check_prediction

__all__ = ["Feedback", "check_prediction", "not_done", "run_student_code"]
