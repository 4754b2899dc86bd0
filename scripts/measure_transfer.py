"""Measure what transfer buys on the digits: scratch vs linear probe vs fine-tune (stage 4).

Digits 5-9, 10 labelled images per class, 40 full-batch Adam steps, seeds 0-4; prints the
mean and standard deviation of the held-out accuracy per method. The numbers quoted in
curriculum/stage4_transfer/README.md come from this script::

    .venv/bin/python scripts/measure_transfer.py
"""

from __future__ import annotations

import statistics

import torch

from pytorch_path.data import BACKBONE_FILE, backbone_images, data_dir, load_digits, make_backbone

torch.set_num_threads(1)
images, labels = load_digits()
keep = labels >= 5
X = backbone_images(images[keep])
Y = labels[keep] - 5
state = torch.load(data_dir() / BACKBONE_FILE, weights_only=True)


def run(method, seed, k=10, epochs=40):
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(Y), generator=g)
    train = torch.cat([idx[Y[idx] == c][:k] for c in range(5)])
    test = idx[~torch.isin(idx, train)]
    torch.manual_seed(seed)
    m = make_backbone()
    if method != "scratch":
        m.load_state_dict(state)
    m.fc = torch.nn.Linear(m.fc.in_features, 5)
    if method == "linear_probe":
        for n, p in m.named_parameters():
            p.requires_grad = n.startswith("fc")
    opt = torch.optim.Adam(
        [p for p in m.parameters() if p.requires_grad],
        lr=1e-3 if method != "linear_probe" else 1e-2,
    )
    for _ in range(epochs):
        m.train()
        if method == "linear_probe":
            for mod in m.modules():
                if isinstance(mod, torch.nn.BatchNorm2d):
                    mod.eval()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(m(X[train]), Y[train]).backward()
        opt.step()
    m.eval()
    with torch.no_grad():
        return (m(X[test]).argmax(1) == Y[test]).float().mean().item()


for method in ("scratch", "linear_probe", "fine_tune"):
    accs = [run(method, s) for s in range(5)]
    print(
        method,
        round(statistics.mean(accs), 3),
        round(statistics.stdev(accs), 3),
        [round(a, 3) for a in accs],
    )
