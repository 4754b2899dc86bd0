"""Known mistake: a parameter matched by two keys silently goes to the first, and one matched by none is dropped.

Expect: expected ValueError to be raised, but the call returned normally
"""

from __future__ import annotations


def param_groups(model, lrs, *, aliases=None):
    if aliases is None:
        aliases = DEFAULT_ALIASES
    groups = {key: [] for key in lrs}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        for key in lrs:
            if any(name == p or name.startswith(p + ".") for p in (key, *aliases.get(key, ()))):
                groups[key].append(param)
                break
    return [{"params": groups[key], "lr": lrs[key], "name": key} for key in lrs]
