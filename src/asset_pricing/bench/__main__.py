"""``python -m asset_pricing.bench``: see :func:`asset_pricing.bench.main`."""

import sys

from asset_pricing.bench import main

raise SystemExit(main(sys.argv[1:]))
