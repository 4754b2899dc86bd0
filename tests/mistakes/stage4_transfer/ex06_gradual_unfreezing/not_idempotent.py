"""Known mistake: step does not remember which epochs are done, so step(1) twice adds layer4 twice.

Expect: calling step(epoch) again does nothing
"""

from __future__ import annotations


class GradualUnfreezer(GradualUnfreezer):
    def step(self, epoch: int) -> None:
        for name, params in self._plan.get(epoch, []):
            for p in params:
                p.requires_grad_(True)
            self.optimizer.add_param_group({"params": params, "lr": self.lr, "name": name})
            self._unfrozen.append(name)
