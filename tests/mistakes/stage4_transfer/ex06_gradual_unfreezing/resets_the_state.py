"""Known mistake: step clears the optimizer's state when it adds a group, throwing away the head's momentum.

Expect: do not rebuild or reset the optimizer
"""

from __future__ import annotations


class GradualUnfreezer(GradualUnfreezer):
    def step(self, epoch: int) -> None:
        if epoch in self._done or epoch not in self._plan:
            return
        self._done.add(epoch)
        for name, params in self._plan[epoch]:
            for p in params:
                p.requires_grad_(True)
            self.optimizer.add_param_group({"params": params, "lr": self.lr, "name": name})
            self._unfrozen.append(name)
        self.optimizer.state.clear()  # "a fresh start for the new groups"
