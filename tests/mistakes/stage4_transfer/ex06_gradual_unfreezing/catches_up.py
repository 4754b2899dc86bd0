"""Known mistake: step(epoch) unfreezes everything scheduled up to epoch, not that epoch alone.

Expect: earlier or later epochs are not caught up
"""

from __future__ import annotations


class GradualUnfreezer(GradualUnfreezer):
    def step(self, epoch: int) -> None:
        for e in sorted(self._plan):
            if e > epoch or e in self._done:
                continue
            self._done.add(e)
            for name, params in self._plan[e]:
                for p in params:
                    p.requires_grad_(True)
                self.optimizer.add_param_group({"params": params, "lr": self.lr, "name": name})
                self._unfrozen.append(name)
