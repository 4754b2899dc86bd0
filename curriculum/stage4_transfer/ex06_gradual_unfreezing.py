"""4.6 Gradual unfreezing on a schedule.

Write the class GradualUnfreezer below, then run ``make check ex=4.6``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn


class GradualUnfreezer:
    """Unfreezes parts of a model epoch by epoch, adding each part to the running optimizer.

    Typical use, with only the new head trainable at first::

        optimizer = torch.optim.SGD(model.fc.parameters(), lr=0.01, momentum=0.9)
        unfreezer = GradualUnfreezer(
            model, optimizer, {1: ["layer4"], 2: ["layer3"], 3: ["layer2", "layer1"]}, lr=1e-3
        )
        for epoch in range(5):
            unfreezer.step(epoch)  # at the start of each epoch
            train_one_epoch(model, optimizer, ...)

    ``schedule`` maps an epoch (an ``int >= 0``) to the names of the modules to unfreeze at
    the start of that epoch. A name is a dotted path that ``model.get_submodule(name)``
    resolves: a child (``"layer4"``) or deeper (``"layer4.0.conv2"``). Epoch 0 is an epoch
    like any other: its modules are frozen by the constructor and unfrozen by ``step(0)``.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        schedule: Mapping[int, Sequence[str]],
        *,
        lr: float,
    ) -> None:
        """Check the schedule, then freeze every parameter of every scheduled module.

        The optimizer already holds what trains from the start (the head) and none of the
        scheduled parameters; each scheduled module joins it later, in a group of its own
        with learning rate ``lr``. Parameters of modules that are not in the schedule keep
        their ``requires_grad`` as given (a part the schedule never names stays as it is).

        Args:
            model: the network.
            optimizer: any ``torch.optim`` optimizer over the parameters that train from
                the start; the unfreezer adds groups to it and never resets its state.
            schedule: ``{epoch: [module name, ...]}``; not modified.
            lr: the learning rate of every group added later (keyword only).

        Raises:
            ValueError: (all checked before anything is frozen, so on error the model is
                unchanged) an epoch that is negative (the message names the epoch); a
                name that ``model.get_submodule`` cannot resolve (the message names it);
                a module without parameters (the message names it); a parameter that
                would be scheduled twice, because a name is listed twice or one scheduled
                module lies inside another (the message names that module or the
                parameter's dotted name); a scheduled parameter that the optimizer already
                holds (the message names the module or the parameter, e.g.
                ``'layer4.0.conv1.weight'``).
        """
        # TODO(4.6): validate the schedule, then freeze every scheduled parameter.
        raise NotImplementedError("4.6: GradualUnfreezer.__init__")

    def step(self, epoch: int) -> None:
        """Unfreeze the modules scheduled for ``epoch``; call it at the start of each epoch.

        For each module scheduled for exactly this ``epoch``, in the order listed: every
        parameter gets ``requires_grad_(True)``, and the module joins the optimizer as one
        new group, ``optimizer.add_param_group({"params": [...], "lr": lr, "name": name})``,
        its parameters in ``module.parameters()`` order. The groups already there, and the
        optimizer's state (SGD momentum buffers, Adam moments), are kept as they are.

        An epoch not in the schedule does nothing; so does calling ``step`` again for an
        epoch already done (no second group: each module is added exactly once). Only
        ``epoch`` itself counts: modules scheduled for an epoch that was never stepped are
        not caught up later.
        """
        # TODO(4.6): unfreeze this epoch's modules, once; one add_param_group per module.
        raise NotImplementedError("4.6: GradualUnfreezer.step")

    @property
    def unfrozen(self) -> list[str]:
        """The names unfrozen so far, in order: a new list each time (a copy, not the record)."""
        # TODO(4.6): the names unfrozen so far, as a new list.
        raise NotImplementedError("4.6: GradualUnfreezer.unfrozen")
