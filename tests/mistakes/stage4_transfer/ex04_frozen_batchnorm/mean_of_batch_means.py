"""Known mistake: train_head returns the mean of the batch losses, though the last batch is smaller.

Expect: the mean of the batch losses; weight each by its batch size
"""

from __future__ import annotations


def train_head(model, loader, optimizer, loss_fn, device) -> float:
    set_trainable_mode(model)
    losses = []
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)
