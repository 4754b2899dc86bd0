"""``python -m pytorch_path`` is the same CLI as ``pytorch-path``."""

from pytorch_path.cli import main

raise SystemExit(main())
