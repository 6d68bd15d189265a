"""The web application: population dashboards and worklists (FastAPI + Jinja2)."""
