import sys

from taskqueue.operations.cli import main

sys.exit(main())
