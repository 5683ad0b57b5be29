"""Helper package of the CNN course: data, training, plots, notebook runner and grading."""

__version__ = "0.1.0"
