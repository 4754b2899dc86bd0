"""Known mistake: train_head never clears the gradients, so every step adds up all earlier batches'.

Expect: call optimizer.zero_grad() before each backward()
"""

from __future__ import annotations


def train_head(model, loader, optimizer, loss_fn, device) -> float:
    set_trainable_mode(model)
    total, count = 0.0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * x.shape[0]
        count += x.shape[0]
    return total / count
