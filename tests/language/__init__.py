"""Tests of openflows.language (a package so the tests can import the shared driver in conftest.py)."""
