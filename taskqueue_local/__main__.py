import sys

from taskqueue_local.cli import main

sys.exit(main())
