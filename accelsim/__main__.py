"""``python -m accelsim`` is the ``accelsim`` command."""

from accelsim.cli import main

raise SystemExit(main())
