"""Errors that kerascls reports to users as one line, never as a traceback.

Every message says what is wrong and what to do about it. The command-line front ends
catch `KerasclsError` and print `error: <message>` with exit status 2.
"""


class KerasclsError(Exception):
    """Base class of every error meant for the user, not the developer."""


class DataError(KerasclsError):
    """The images given cannot be used: missing, empty, corrupt or inconsistent."""


class ModelError(KerasclsError):
    """A model cannot be built or loaded with the arguments given."""


class OfflineError(KerasclsError):
    """Something had to be downloaded and the network was not there."""
