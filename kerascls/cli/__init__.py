"""Command-line front ends: each parses arguments and calls the Python API, nothing more."""
