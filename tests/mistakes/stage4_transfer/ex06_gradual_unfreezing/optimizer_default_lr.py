"""Known mistake: the new groups take the optimizer's default lr instead of the lr given to the unfreezer.

Expect: the lr given to GradualUnfreezer
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
            self.optimizer.add_param_group({"params": params, "name": name})
            self._unfrozen.append(name)
