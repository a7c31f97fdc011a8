"""The state file: what dtsctl last applied, by address, with secrets hashed.

See state/README.md at the repository root for the file format.
"""

from dtsctl.state.file import STATE_FILE_NAME, StateFile
from dtsctl.state.lock import LockInfo
from dtsctl.state.model import RecordedResource, State, new_recorded
from dtsctl.state.sensitive import hash_secret, record_attributes

__all__ = [
    "STATE_FILE_NAME",
    "LockInfo",
    "RecordedResource",
    "State",
    "StateFile",
    "hash_secret",
    "new_recorded",
    "record_attributes",
]
