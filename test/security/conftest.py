import os
import sys

TEST = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TEST not in sys.path:
    sys.path.insert(0, TEST)
