"""python -m archaeo_cli: the same as the `archaeo` command."""
from .main import main

raise SystemExit(main())
