"""Known mistake: frozen parameters (requires_grad=False) are put in the groups too.

Expect: frozen parameters are left out
"""

from __future__ import annotations


def param_groups(model, lrs, *, aliases=None):
    if aliases is None:
        aliases = DEFAULT_ALIASES
    groups = {key: [] for key in lrs}
    for name, param in model.named_parameters():
        keys = [
            k
            for k in lrs
            if any(name == p or name.startswith(p + ".") for p in (k, *aliases.get(k, ())))
        ]
        if not keys:
            raise ValueError(f"parameter {name!r} matches none of the groups {list(lrs)}")
        if len(keys) > 1:
            raise ValueError(f"parameter {name!r} matches several groups: {keys}")
        groups[keys[0]].append(param)
    return [{"params": groups[key], "lr": lrs[key], "name": key} for key in lrs]
