"""Production entry point: `gunicorn wsgi:app` (run `flask setup` once per release first)."""
from app import create_app

app = create_app()
