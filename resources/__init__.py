"""Icons and desktop integration templates, installed as the package ``mfsync.resources``.

pyproject.toml maps this top-level folder into the package, so ``importlib.resources.files(
"mfsync.resources")`` finds these files in a wheel, an editable install and a source checkout.
"""
