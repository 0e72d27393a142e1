import sys

from pytasks.monitor.daemon import main

sys.exit(main())
