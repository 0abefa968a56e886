"""``python -m access.demo.synth [out_dir] [--seed N]``."""

import sys

from access.demo.synth import main

sys.exit(main())
