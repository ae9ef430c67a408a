import sys

from viewer.cli.main import main

sys.exit(main())
