"""Helpers shared by jobwarden's tests."""
