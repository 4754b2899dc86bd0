"""4.10 An experiment runner with records you can trust.

Write load_config and run_experiments below, then run ``make check ex=4.10``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

import os
from typing import Any

from rich.console import Console

METHODS = ("scratch", "linear_probe", "fine_tune")
KEYS = ("methods", "seeds", "labels_per_class", "epochs", "lr", "out_dir")
ROW_KEYS = (
    "method",
    "seed",
    "accuracy",
    "final_loss",
    "duration_s",
    "torch",
    "device",
    "epochs",
    "labels_per_class",
)
COLUMNS = ("method", "mean accuracy", "std accuracy", "runs")


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate an experiment config, a YAML mapping read with ``yaml.safe_load``.

    Keys (no others):

    ================ ======== ================================================
    key              default  value
    ================ ======== ================================================
    methods          required a non-empty list of distinct names from
                              ``"scratch"``, ``"linear_probe"``, ``"fine_tune"``
    seeds            required a non-empty list of distinct ints, each
                              ``0 <= seed <= 2**32 - 1``
    labels_per_class 10       an int, ``1 <= labels_per_class <= 100``
    epochs           5        an int ``>= 1``
    lr               1e-3     a number ``> 0`` and finite (an int is accepted),
                              returned as a float; mind that YAML reads ``1e-3``
                              as the string ``"1e-3"`` (write ``1.0e-3`` or
                              ``0.001``): a string is rejected
    out_dir          results  a non-empty string: the output folder, relative to
                              the config file's folder (an absolute path stays)
    ================ ======== ================================================

    "An int" excludes ``bool`` (``True`` is not 1 here) and floats (``2.0`` is rejected).
    Every problem raises ``ValueError`` whose message names the key: an unknown key (the
    message also lists the known keys), a missing required key, a value of the wrong type
    or out of range (the message also shows the value, as ``repr`` gives it). A file that
    does not hold a mapping (empty, or a list) raises ``ValueError`` too.

    Returns a new dict with exactly the six keys in the order of the table, the defaults
    filled in: ``methods`` and ``seeds`` as lists in the file's order, ``lr`` a float,
    ``out_dir`` the string as written (not resolved).
    """
    # TODO(4.10): yaml.safe_load; reject unknown keys, check each value, fill the defaults.
    raise NotImplementedError("4.10: load_config")


def run_experiments(
    config_path: str | os.PathLike[str], *, console: Console | None = None
) -> list[dict[str, Any]]:
    """Run every (method, seed) of a config, write the records, print the comparison.

    ``config_path`` is read with :func:`load_config`; a bad config raises its
    ``ValueError`` before anything is created or written.

    **Data** (the same for every run): ``digits_split(seed=0)``, keeping digits 5-9 with
    labels ``y - 5`` (0-4), as ``backbone_images`` inputs. Training uses the first
    ``labels_per_class`` images of each class, in the split's order, class 0's first:
    ``torch.cat([(y == c).nonzero().flatten()[:k] for c in range(5)])`` on the train part.
    The test part's digits 5-9 (174 images) measure accuracy.

    **One run** per ``(method, seed)``, in grid order: methods outer, seeds inner, as the
    config lists them. Each run:

    1. ``torch.manual_seed(seed)``, then ``model = make_backbone()``; for
       ``"linear_probe"`` and ``"fine_tune"`` load the shipped weights into it
       (``verify_file(BACKBONE_FILE)``, ``torch.load(..., weights_only=True)``, strict);
       then, for every method, a new head ``model.fc = nn.Linear(128, 5)``.
       ``"scratch"`` trains every parameter from its random initialisation;
       ``"linear_probe"`` trains only ``fc`` (everything else ``requires_grad_(False)``)
       with the whole model in eval mode; ``"fine_tune"`` trains every parameter.
    2. ``torch.optim.Adam`` over the trainable parameters, ``lr`` from the config.
    3. ``epochs`` epochs, each one full-batch step on the labelled images: ``model.train()``
       (``model.eval()`` for the probe), ``zero_grad``, ``loss = F.cross_entropy(
       model(x), y)``, ``backward``, ``step``; the epoch's loss is that ``loss.item()``
       (before the step). Then the test accuracy: ``model.eval()``, under
       ``torch.no_grad()``, the fraction of test images with ``argmax == y``.
    4. TensorBoard: ``SummaryWriter(out_dir / "tb" / f"{method}-seed{seed}")`` gets the
       scalars ``"loss"`` and ``"accuracy"`` of every epoch at ``global_step=epoch``
       (1, 2, ...), and is closed.

    The run's row, a dict with exactly these keys in this order: ``method`` (str),
    ``seed`` (int), ``accuracy`` (float, the last epoch's), ``final_loss`` (float, the
    last epoch's loss), ``duration_s`` (float > 0: ``time.perf_counter()`` around the
    whole run), ``torch`` (``str(torch.__version__)``: a plain ``str``), ``device``
    (``"cpu"``: every run is on the CPU), ``epochs`` and ``labels_per_class`` (ints, from
    the config).

    **Records**, in ``out_dir`` (resolved against the config file's folder, created
    with its parents if needed; files of these names are replaced; ``out_dir / "tb"`` is
    removed first if it exists, so it holds exactly this call's runs):

    - ``results.csv``: ``csv.DictWriter`` with the row keys as ``fieldnames``, a header,
      then one line per run in grid order (``newline=""``, UTF-8).
    - ``results.json``: ``{"config": <load_config's dict>, "versions": {"torch":
      str(torch.__version__), "torchvision": str(torchvision.__version__), "python":
      platform.python_version()}, "device": "cpu", "runs": <the rows>}``.
    - ``comparison.md``: a Markdown table, the header ``| method | mean accuracy | std
      accuracy | runs |``, a separator line (``|---|---:|---:|---:|``), then one line
      per method in the config's order: the mean accuracy over its seeds
      (``statistics.fmean``), the sample standard deviation (``statistics.stdev``, n - 1;
      ``nan`` with a single seed: one run says nothing about the spread), both with
      ``.4f``, and the number of runs.
    - ``loss_curves.png``: one line per run (the loss per epoch, x = 1..epochs, with a
      legend, e.g. ``f"{method} seed {seed}"``), drawn on a ``matplotlib.figure.Figure``
      with ``figsize=(8, 5), dpi=100`` and an Agg canvas, saved as PNG: exactly 800 x 500
      pixels (no ``bbox_inches="tight"``, which crops). No pyplot: no figure is left open.

    Then the same table (the same four columns, the same cells) is printed as a
    ``rich.table.Table`` with ``console.print``; ``console`` defaults to a new
    ``Console()`` made in the call (it writes to the current ``sys.stdout``).

    What a correct run must match: the accuracy of every row within one test image
    (1/174) and ``final_loss`` within 1e-4 (relative) of a correct run's, the TensorBoard
    scalars likewise; the CSV cells and the JSON runs exactly the returned rows (a float
    written by ``DictWriter`` reads back as the same float); the Markdown numbers within
    5e-5 of what the rows give; a PNG with something drawn on it. The working directory
    plays no part. Transfer is not required to win: the numbers are what they are.

    Returns the rows, in grid order.
    """
    # TODO(4.10): validate, run the grid, write csv/json/md/png/tb, print the table.
    raise NotImplementedError("4.10: run_experiments")
