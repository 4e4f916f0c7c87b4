"""Helpers the tests share (imported as `tests.support.…`, never from a conftest)."""
