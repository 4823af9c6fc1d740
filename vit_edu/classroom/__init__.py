"""Tools for teachers: student editions of the lessons (nbgrader's preprocessors), the course as an
offline static site (front-end files vendored in ``static/``), and their command line."""

from vit_edu.classroom.editions import lesson_paths, student_notebook, write_student_notebooks

__all__ = ["lesson_paths", "student_notebook", "write_student_notebooks"]
