"""Finding where an evaluation goes non-finite: the first module, in the
order the forward pass completes them, whose output holds NaN or inf."""
import torch

__all__ = ["first_nonfinite_module"]


def _tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _tensors(v)


@torch.no_grad()
def first_nonfinite_module(model, run):
    """Calls run(model) once with forward hooks on every submodule; returns
    (qualified name, class name) of the first module whose output is not
    finite, or None. A module's hook fires when its forward ends, so the
    innermost culprit comes first (a fused RelationPool is one module: its
    bn1/bn2 are not called)."""
    found = []

    def hook(module, _inputs, output, name):
        if not found and any(t.is_floating_point() and not bool(torch.isfinite(t).all()) for t in _tensors(output)):
            found.append((name or "(the whole model)", type(module).__name__))

    handles = [m.register_forward_hook(lambda m, i, o, name=name: hook(m, i, o, name))
               for name, m in model.named_modules()]
    try:
        run(model)
    finally:
        for h in handles:
            h.remove()
    return found[0] if found else None
