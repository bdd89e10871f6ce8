"""Helpers of the command-line tools (smartops-train, -eval, -finetune,
-predict): one small module per job.

    cli          argument types, "which flags were given", CLIError
    distributed  torchrun / DDP setup (NCCL on GPUs, gloo on CPUs), rank-0 helpers
    checkpoint   atomic checkpoint writing, loading with clear errors, auto-resume
    optim        SGD with weight-decay groups, learning-rate schedules
    metrics      top-k / per-class accuracy, the JSONL (+ TensorBoard) metrics log
    progress     a dependency-free progress line (loss, accuracy, clips/s, ETA)
    data         datasets and loaders from command-line arguments, the synthetic cache
    modeling     building models from arguments or checkpoints, AMP, channels-last, sync BN
    loop         one training epoch, validation, test-view evaluation
    inference    --fold / --no-fold: the folded inference model of smartops-eval and -predict
"""
