"""A progress line without dependencies: on a terminal one line rewritten in
place (at most 5 times a second); otherwise (logs, pipes) one line every
`every` steps and at the end."""
import sys
import time

__all__ = ["Progress", "format_duration"]


def format_duration(seconds):
    seconds = int(max(0, round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return "%d:%02d:%02d" % (h, m, s) if h else "%d:%02d" % (m, s)


class Progress:
    def __init__(self, total, desc="", enabled=True, stream=None, every=None, unit="clips"):
        self.total = max(0, int(total))
        self.desc = desc
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every = every or max(1, self.total // 10)
        self.unit = unit
        self.step = 0
        self.items = 0
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._width = 0
        self.fields = {}

    def rate(self):
        elapsed = time.perf_counter() - self.start
        return self.items / elapsed if elapsed > 0 else 0.0

    def line(self):
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.step * (self.total - self.step) if self.step and self.total else 0.0
        parts = ["%s %*d/%d" % (self.desc, len(str(self.total)), self.step, self.total)]
        parts += ["%s %s" % (k, v) for k, v in self.fields.items()]
        parts.append("%.1f %s/s" % (self.rate(), self.unit))
        parts.append("%s<%s" % (format_duration(elapsed), format_duration(eta)))
        return "  ".join(parts)

    def update(self, items=0, **fields):
        self.step += 1
        self.items += items
        for k, v in fields.items():
            self.fields[k] = v if isinstance(v, str) else "%.4g" % v
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.tty:
            if now - self._last_draw >= 0.2 or self.step == self.total:
                self._draw(self.line())
                self._last_draw = now
        elif self.step % self.every == 0 or self.step == self.total:
            print(self.line(), file=self.stream, flush=True)

    def _draw(self, text):
        pad = max(0, self._width - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._width = len(text)

    def close(self):
        if self.enabled and self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
