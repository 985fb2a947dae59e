"""Collects every Python fence of the docs and every docstring example as a test (sybil).

It sits at the top of the repository because pytest only asks a conftest about files below it.
"""

from tests.doc_collection import pytest_collect_file

__all__ = ["pytest_collect_file"]
