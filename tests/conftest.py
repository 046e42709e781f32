"""Test-session settings: torch runs one thread per pytest worker (or $RLHF_LESSONS_THREADS);
importing rlhf_lessons does not set it (tests/test_import.py)."""

from rlhf_lessons.runtime import set_threads

set_threads()
