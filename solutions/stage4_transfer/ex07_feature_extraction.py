"""4.7 Feature extraction and a linear probe (reference solution)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.models.feature_extraction import create_feature_extractor


def _training_flags(model: nn.Module) -> dict[str, bool]:
    """Every module's own ``training`` flag, by name (the root is ``""``)."""
    return {name: module.training for name, module in model.named_modules()}


def _restore_flags(model: nn.Module, flags: dict[str, bool]) -> None:
    """Put back each module's own flag (``model.train(mode)`` would set them all alike)."""
    for name, module in model.named_modules():
        module.training = flags[name]


def extract_with_fx(model: nn.Module, x: torch.Tensor, node: str = "avgpool") -> torch.Tensor:
    """Features of ``model`` at the graph node ``node``, one row per sample.

    Args:
        model: an image model such as the stage's backbone
            (``pytorch_path.data.make_backbone()``), on ``x``'s device and in ``x``'s dtype.
            It may arrive in train mode, and some of its submodules may be in a mode of
            their own (for example a frozen BatchNorm kept in eval mode inside a model in
            train mode).
        x: a batch of images ``(N, C, H, W)``.
        node: a node name as ``torchvision.models.feature_extraction.get_graph_node_names``
            lists them (``"avgpool"``, ``"layer3.0.relu_1"``, ``"flatten"``, ...), or the
            name of a submodule, which stands for that submodule's last node (``"layer3"``
            is the output of ``layer3``). Default ``"avgpool"``.

    Returns:
        A plain ``torch.Tensor`` of shape ``(N, D)``: the node's output flattened per sample
        (``torch.flatten(out, 1)``; ``D`` is the product of its other dims), row ``i``
        computed from ``x[i]`` alone, in ``x``'s dtype and on ``x``'s device. It carries no
        autograd graph (``requires_grad`` False, no ``grad_fn``) even when ``x`` or the
        parameters require grad, and it is an ordinary tensor, not an inference tensor
        (use ``torch.no_grad()``, not ``torch.inference_mode()``: a probe trains on these
        features, and autograd refuses to save inference tensors for backward). The grader
        compares it with its own forward pass within rtol=1e-4, atol=1e-5 (float32 on a
        CPU; accelerators are allowed more).

    How:

    - build the extractor with
      ``create_feature_extractor(model, return_nodes={node: "features"})``; calling it
      returns a dict, ``{"features": tensor}``;
    - run it in eval mode (BatchNorm uses its running statistics, Dropout is off) under
      ``torch.no_grad()``;
    - afterwards every module of ``model`` has its own ``training`` flag back, as it was
      when the function was called, also when something raises (``try``/``finally``).
      ``model.train(was_training)`` is not enough (it sets every submodule to the same
      mode), and ``create_feature_extractor`` itself calls ``model.train(...)`` while it
      traces: record ``{name: m.training for name, m in model.named_modules()}`` *before*
      building the extractor;
    - nothing else of ``model`` changes: parameters, buffers (BatchNorm statistics),
      ``requires_grad``, ``.grad``, hooks.

    Raises:
        ValueError: ``node`` is not a node of the model's graph (``create_feature_extractor``
            raises it; let it propagate, with the training flags restored).
    """
    flags = _training_flags(model)  # before create_feature_extractor, which resets them
    try:
        extractor = create_feature_extractor(model, return_nodes={node: "features"})
        extractor.eval()  # the extractor shares the model's submodules
        with torch.no_grad():
            out = extractor(x)["features"]
        return torch.flatten(out, 1)
    finally:
        _restore_flags(model, flags)


def extract_with_hook(
    model: nn.Module, x: torch.Tensor, module_name: str = "avgpool"
) -> torch.Tensor:
    """The output of the submodule ``module_name`` during one forward pass, one row per sample.

    Args:
        model: as in :func:`extract_with_fx`.
        x: as in :func:`extract_with_fx`.
        module_name: a submodule's dotted name as ``model.named_modules()`` lists it
            (``"avgpool"``, ``"layer3"``, ``"layer2.0.bn1"``), of a module that runs exactly
            once per forward pass. Default ``"avgpool"``.

    Returns:
        The same as :func:`extract_with_fx` for the same name: a plain ``(N, D)`` tensor,
        the module's output flattened per sample, row ``i`` from ``x[i]``, in ``x``'s dtype
        and on its device, no autograd graph, not an inference tensor.

    How:

    - ``module = model.get_submodule(module_name)``, then
      ``handle = module.register_forward_hook(hook)`` where ``hook(module, inputs, output)``
      keeps a copy, ``output.clone()``: the backbone's ReLUs work in place
      (``nn.ReLU(inplace=True)``) and overwrite a BatchNorm's output right after the hook
      has seen it; then an ordinary ``model(x)`` (its logits are not needed);
    - the forward pass runs in eval mode under ``torch.no_grad()``;
    - in a ``finally`` block: ``handle.remove()`` (no hook is left on any module, also when
      the model's forward raises, and that error propagates unchanged: do not catch it),
      and every module's own ``training`` flag restored, as in :func:`extract_with_fx`;
    - nothing else of ``model`` changes.

    Raises:
        AttributeError: ``module_name`` names no submodule (``"layer5"``) or names something
            that is not a module (``"fc.weight"``); ``get_submodule`` raises it. Let it
            propagate; the model is left exactly as it was.
    """
    module = model.get_submodule(module_name)
    kept: list[torch.Tensor] = []

    def keep_output(mod: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        kept.append(output.clone())  # an in-place ReLU may overwrite the output next

    flags = _training_flags(model)
    handle = module.register_forward_hook(keep_output)
    try:
        model.eval()
        with torch.no_grad():
            model(x)
        return torch.flatten(kept[0], 1)
    finally:
        handle.remove()
        _restore_flags(model, flags)


def linear_probe(
    features: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    *,
    epochs: int = 100,
    lr: float = 0.1,
    seed: int = 0,
) -> nn.Linear:
    """Train a linear classifier on cached features (a "linear probe") and return it.

    Args:
        features: a float tensor ``(N, D)``, for example from :func:`extract_with_fx`. It
            may require grad or carry a graph: train on ``features.detach()``, so nothing
            flows back into it (its ``.grad`` stays ``None``). It is not modified.
        labels: int64 class indices ``(N,)`` in ``[0, num_classes)``, on the features'
            device.
        num_classes: the number of classes (outputs of the layer).
        epochs: the number of training steps; each step uses all ``N`` samples at once
            (``0`` returns the freshly built layer).
        lr: the learning rate of plain SGD.
        seed: seeds the layer's initial weights.

    The recipe (the grader replays exactly this and compares the weights):

    1. ``torch.manual_seed(seed)``, then ``layer = nn.Linear(D, num_classes)`` built on the
       CPU in float32 (its default initialisation draws from the CPU generator, so it starts
       from the same weights on every device), then moved with
       ``.to(device=features.device, dtype=features.dtype)``;
    2. ``optimizer = torch.optim.SGD(layer.parameters(), lr=lr)`` (no momentum, no weight
       decay);
    3. ``epochs`` times: ``optimizer.zero_grad()``,
       ``loss = F.cross_entropy(layer(features), labels)`` (the mean over the samples),
       ``loss.backward()``, ``optimizer.step()``: full batch, every sample in every step,
       no shuffling, no mini-batches.

    Returns:
        The trained ``nn.Linear`` (``in_features=D``, ``out_features=num_classes``) on the
        features' device and in their dtype. Its weight and bias equal the recipe's within
        rtol=1e-4, atol=1e-5 (float32 on a CPU; the float64 comparison is tighter,
        accelerators are allowed more).
    """
    feats = features.detach()
    torch.manual_seed(seed)
    layer = nn.Linear(feats.shape[1], num_classes).to(device=feats.device, dtype=feats.dtype)
    optimizer = torch.optim.SGD(layer.parameters(), lr=lr)
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = F.cross_entropy(layer(feats), labels)
        loss.backward()
        optimizer.step()
    return layer
