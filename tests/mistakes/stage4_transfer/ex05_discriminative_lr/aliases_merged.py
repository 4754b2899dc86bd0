"""Known mistake: aliases given are merged with the default ones instead of replacing them.

Expect: with no aliases the key 'stem' matches nothing
"""

from __future__ import annotations


def param_groups(model, lrs, *, aliases=None):
    aliases = {**DEFAULT_ALIASES, **(aliases or {})}
    groups = {key: [] for key in lrs}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        keys = [
            k
            for k in lrs
            if any(name == p or name.startswith(p + ".") for p in (k, *aliases.get(k, ())))
        ]
        if not keys:
            raise ValueError(f"trainable parameter {name!r} matches none of the groups {list(lrs)}")
        if len(keys) > 1:
            raise ValueError(f"trainable parameter {name!r} matches several groups: {keys}")
        groups[keys[0]].append(param)
    for key, params in groups.items():
        if not params:
            raise ValueError(f"group {key!r} matches no trainable parameter")
    return [{"params": groups[key], "lr": lrs[key], "name": key} for key in lrs]
