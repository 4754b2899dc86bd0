"""Known mistake: the modules of one epoch share a single parameter group.

Expect: one group per module unfrozen so far
"""

from __future__ import annotations


class GradualUnfreezer(GradualUnfreezer):
    def step(self, epoch: int) -> None:
        if epoch in self._done or epoch not in self._plan:
            return
        self._done.add(epoch)
        params, names = [], []
        for name, module_params in self._plan[epoch]:
            for p in module_params:
                p.requires_grad_(True)
            params += module_params
            names.append(name)
        self.optimizer.add_param_group({"params": params, "lr": self.lr, "name": "+".join(names)})
        self._unfrozen.extend(names)
