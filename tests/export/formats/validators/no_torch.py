"""Prints whether torch can be imported in this venv (the consumers must do without it)."""

import importlib.util
import json

print(json.dumps({"torch": importlib.util.find_spec("torch") is not None}))
