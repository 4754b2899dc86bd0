"""Known mistake: step adds the module's parameters to the optimizer but leaves them frozen.

Expect: requires_grad_(True) on all its parameters
"""

from __future__ import annotations


class GradualUnfreezer(GradualUnfreezer):
    def step(self, epoch: int) -> None:
        if epoch in self._done or epoch not in self._plan:
            return
        self._done.add(epoch)
        for name, params in self._plan[epoch]:
            self.optimizer.add_param_group({"params": params, "lr": self.lr, "name": name})
            self._unfrozen.append(name)
