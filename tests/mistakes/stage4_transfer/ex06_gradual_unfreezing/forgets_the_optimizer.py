"""Known mistake: step sets requires_grad but never adds the parameters to the optimizer, so they get gradients and no updates.

Expect: each added once with optimizer.add_param_group
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
            self._unfrozen.append(name)
