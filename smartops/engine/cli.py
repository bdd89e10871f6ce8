"""Argument types and errors shared by the command-line tools."""
import argparse
import math
import sys

__all__ = ["CLIError", "positive_int", "nonneg_int", "positive_float", "nonneg_float", "probability",
           "frame_size", "triple", "int_list", "given_args", "run_main"]


class CLIError(Exception):
    """A user error found before (or instead of) long work: printed as
    ``<prog>: error: <message>`` with exit status 2, no traceback."""


def _number(kind, text, ok, what):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError("%r is not a%s %s" % (text, "n" if what[0] in "aeiou" else "", what)) \
            from None
    if isinstance(value, float) and not math.isfinite(value) or not ok(value):
        raise argparse.ArgumentTypeError("must be %s, got %r" % (what, text))
    return value


def positive_int(text):
    return _number(int, text, lambda v: v >= 1, "integer >= 1")


def nonneg_int(text):
    return _number(int, text, lambda v: v >= 0, "integer >= 0")


def positive_float(text):
    return _number(float, text, lambda v: v > 0, "number > 0")


def nonneg_float(text):
    return _number(float, text, lambda v: v >= 0, "number >= 0")


def probability(text):
    return _number(float, text, lambda v: 0 <= v < 1, "number in [0, 1)")


def frame_size(text):
    """'128x170' -> (128, 170); '128' -> 128 (short side); 'keep'/'none' -> 'keep'."""
    t = str(text).strip().lower()
    if t in ("keep", "none", "native"):
        return "keep"
    if t == "auto":
        return "auto"
    try:
        if "x" in t:
            h, w = (int(v) for v in t.split("x"))
            if h >= 1 and w >= 1:
                return (h, w)
        else:
            s = int(t)
            if s >= 1:
                return s
    except ValueError:
        pass
    raise argparse.ArgumentTypeError("frame size must be HxW (e.g. 128x170), a short side (e.g. 128) or 'keep', "
                                     "got %r" % text)


def triple(text):
    """'123,117,104' -> [123.0, 117.0, 104.0]."""
    try:
        values = [float(v) for v in str(text).replace(" ", "").split(",")]
    except ValueError:
        values = []
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError("expected 3 comma-separated numbers (R,G,B), got %r" % text)
    return values


def int_list(text):
    """'10,20' -> [10, 20] (positive, increasing)."""
    try:
        values = [int(v) for v in str(text).replace(" ", "").split(",") if v]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values) or sorted(set(values)) != values:
        raise argparse.ArgumentTypeError("expected increasing positive integers separated by commas "
                                         "(e.g. 10,20), got %r" % text)
    return values


def given_args(parser, argv):
    """The dests of the options given explicitly on the command line (parsed
    again with every default suppressed)."""
    saved = [(a, a.default) for a in parser._actions]
    try:
        for a, _ in saved:
            a.default = argparse.SUPPRESS
        ns, _ = parser.parse_known_args(argv)
    finally:
        for a, d in saved:
            a.default = d
    return set(vars(ns))


def run_main(prog, body, argv):
    """Runs body(argv); a CLIError becomes 'prog: error: ...' and exit 2."""
    try:
        return body(argv)
    except CLIError as err:
        print("%s: error: %s" % (prog, err), file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("%s: interrupted" % prog, file=sys.stderr, flush=True)
        return 130
