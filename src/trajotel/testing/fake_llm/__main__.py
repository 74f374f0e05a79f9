import sys

from trajotel.testing.fake_llm.server import main

sys.exit(main())
