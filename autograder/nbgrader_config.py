"""nbgrader configuration of the course; nbgrader reads it when run from this folder.

The course root is this folder (runtime state: gradebook.db, submitted/, autograded/, feedback/, all
git-ignored). The source and release folders are the repository's solutions/ and notebooks/.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "src"))  # the course's nbgrader extensions, even without install

from cnncourse.grader import nbgrader_ext  # noqa: E402

c = get_config()  # noqa: F821  (injected by traitlets)

c.CourseDirectory.root = HERE
c.CourseDirectory.course_id = "cnn-course"
# nbgrader joins these names to the root; relative paths keep its path regexes working.
c.CourseDirectory.source_directory = os.path.relpath(os.path.join(REPO, "solutions"), HERE)
c.CourseDirectory.release_directory = os.path.relpath(os.path.join(REPO, "notebooks"), HERE)
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "gradebook.db")
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "*.executed.ipynb", "data"]

nbgrader_ext.configure(c, db_path=os.path.join(HERE, "gradebook.db"))
