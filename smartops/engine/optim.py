"""SGD as in the paper and the learning-rate schedules of the command line."""
import torch

__all__ = ["param_groups", "build_optimizer", "build_scheduler", "step_scheduler", "default_lr", "current_lr",
           "SCHEDULES"]

SCHEDULES = ("auto", "plateau", "multistep", "cosine", "constant")


def default_lr(global_batch, base=0.1, base_batch=256):
    """The paper's lr 0.1 at batch 256, scaled linearly to `global_batch`."""
    return base * global_batch / base_batch


def param_groups(model, weight_decay):
    """Two groups: weights with decay, and (no decay) every parameter with
    ndim <= 1 (BN weights and biases, conv and fc biases). Frozen parameters
    are left out."""
    decay, no_decay = [], []
    for p in model.parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(model, lr, momentum=0.9, weight_decay=5e-4, nesterov=False):
    return torch.optim.SGD(param_groups(model, weight_decay), lr=lr, momentum=momentum,
                           nesterov=nesterov and momentum > 0)


def build_scheduler(optimizer, kind, epochs, milestones=None, gamma=0.1, patience=2, min_lr=0.0):
    """Per-epoch schedules:
    plateau    divide by 1/gamma (10) when the validation loss has not improved
               for `patience` epochs (ReduceLROnPlateau), the paper's schedule;
    multistep  multiply by gamma at the given epochs;
    cosine     cosine annealing to min_lr over `epochs`;
    constant   no change."""
    if kind == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=gamma, patience=patience,
                                                          min_lr=min_lr)
    if kind == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(milestones), gamma=gamma)
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs), eta_min=min_lr)
    if kind == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)
    raise ValueError("unknown schedule %r; choose one of %s" % (kind, ", ".join(SCHEDULES[1:])))


def step_scheduler(scheduler, val_loss=None):
    """One epoch step; the plateau schedule reads the validation loss."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        if val_loss is not None:
            scheduler.step(val_loss)
    else:
        scheduler.step()


def current_lr(optimizer):
    return optimizer.param_groups[0]["lr"]
