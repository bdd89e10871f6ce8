"""smartops-finetune: fine-tune a trained network on new classes with the
original release's recipe (a new head for the new classes, TSN with 2
segments, lr 0.001, dropout 0.5, gradient norm clipped at 40).

    smartops-finetune --pretrained runs/kinetics/best.pt --data ucf101_splits --root UCF-101 --output runs/ucf

It is ``smartops-train`` with --pretrained required and those defaults (every
option of smartops-train is accepted; see ``smartops-finetune --help``).
"""
import sys

from smartops.engine.cli import run_main
from smartops.train import run

__all__ = ["main"]


def main(argv=None):
    return run_main("smartops-finetune", lambda a: run(a, "smartops-finetune", finetune=True), argv)


if __name__ == "__main__":
    sys.exit(main())
