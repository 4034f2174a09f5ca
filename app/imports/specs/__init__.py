"""Every import of the product, one spec module each. Importing this package registers them."""
from app.imports.specs import new_students  # noqa: F401
