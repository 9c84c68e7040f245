import sys

from taskqueue.cli import main

sys.exit(main())
