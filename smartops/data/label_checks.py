"""Checks of annotation labels that catch typos before they become silent
damage: a class index with phantom classes, a video listed twice with two
labels, a label that is a float."""
from __future__ import annotations

import warnings
from typing import Dict, Sequence

__all__ = ["AnnotationWarning", "check_not_float", "check_label_gaps", "check_duplicates"]

#: phantom (never used) indices named in a message
SHOWN = 8
#: more phantom classes than this (and than used ones) is an error
MAX_PHANTOM = 100


class AnnotationWarning(RuntimeWarning):
    """A suspicious but usable annotation file. A RuntimeWarning so that
    tools which silence UserWarnings while loading data still show it."""


def check_not_float(token: str, where: str) -> None:
    """A label such as ``1.0`` or ``1e6`` is a number that is not an
    integer index: an error, not a class named "1.0"."""
    try:
        float(token)
    except ValueError:
        return
    from .annotations import AnnotationError

    raise AnnotationError("%s: label %r is a number but not an integer class index; write integer "
                          "indices (0, 1, ...) or class names" % (where, token))


def check_label_gaps(labels: Sequence[int], sources: Sequence[str], path: str) -> None:
    """Integer labels define classes 0..max; indices no line uses are
    phantom classes. An error when they outnumber both the used classes and
    ``MAX_PHANTOM`` (a typo such as 1000000), else a warning naming them."""
    from .annotations import AnnotationError

    top = max(labels)
    used = set(labels)
    phantom = [k for k in range(top + 1) if k not in used]
    if not phantom:
        return
    if len(phantom) > max(len(used), MAX_PHANTOM):
        raise AnnotationError(
            "%s: label %d makes a %d-class index of which %d classes have no video; a typo? "
            "(give the class names in classes.txt beside the list to allow it)"
            % (sources[labels.index(top)], top, top + 1, len(phantom)))
    shown = ", ".join(str(k) for k in phantom[:SHOWN]) + (", ..." if len(phantom) > SHOWN else "")
    warnings.warn("%s: integer labels 0..%d, but no video has label %s: %d phantom class(es) in the index "
                  "(put a classes.txt beside the list to name the classes)"
                  % (path, top, shown, len(phantom)), AnnotationWarning, stacklevel=4)


def check_duplicates(paths: Sequence[str], labels: Sequence[int], sources: Sequence[str]) -> None:
    """The same video listed with two different labels is an error naming
    both lines (the same label twice is allowed: oversampling)."""
    from .annotations import AnnotationError

    first: Dict[str, int] = {}
    for k, (path, label) in enumerate(zip(paths, labels)):
        j = first.setdefault(path, k)
        if labels[j] != label:
            raise AnnotationError("%s and %s list the same video %s with different labels (%d and %d)"
                                  % (sources[j], sources[k], path, labels[j], label))
