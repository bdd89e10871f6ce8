"""Finding the videos of an annotation list that do not exist, before any
training starts: a list whose relative paths miss their root must fail at
once with a hint, not after drawing missing files one by one."""
from __future__ import annotations

import os
import warnings
from typing import List, Sequence

from .annotations import VideoRecord

__all__ = ["MissingVideosError", "MissingVideoWarning", "check_files", "SHOWN"]

#: missing paths named in a message
SHOWN = 5


class MissingVideosError(FileNotFoundError):
    """All or most videos of an annotation list do not exist."""


class MissingVideoWarning(RuntimeWarning):
    """A few videos of an annotation list do not exist.

    A RuntimeWarning, not a UserWarning: command-line tools silence the
    annotation parsers' UserWarnings while building datasets, and this one
    must be seen."""


def check_files(records: Sequence[VideoRecord], annotations: str, root: str) -> List[str]:
    """The paths of ``records`` that do not exist. Raises
    :class:`MissingVideosError` when none or at most half of them exist,
    warns once (:class:`MissingVideoWarning`) when a few are missing."""
    missing = [r.path for r in records if not os.path.exists(r.path)]
    if not missing:
        return missing
    total, found = len(records), len(records) - len(missing)
    shown = ", ".join(missing[:SHOWN]) + (", ..." if len(missing) > SHOWN else "")
    if 2 * found <= total:
        raise MissingVideosError(
            "%d of the %d videos listed in %s do not exist under the root %s (%d exist; e.g. %s). "
            "If the paths in the list are relative to another folder, pass that folder as root= "
            "(--root on the command line)." % (len(missing), total, annotations, root, found, shown))
    warnings.warn("%d of the %d videos listed in %s do not exist and are skipped: %s"
                  % (len(missing), total, annotations, shown), MissingVideoWarning, stacklevel=3)
    return missing
