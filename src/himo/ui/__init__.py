"""The dashboard (`himo ui`): a read-only FastAPI app over the metadata store.

    app.py        the app factory: pages (Jinja2), the JSON API under /api, token auth, path checks
    data.py       the dashboard's own queries (grid strip, filters, metrics) as SQLAlchemy selects
    templates/    server-rendered pages; static/  CSS, JS and the vendored cytoscape, chart.js, swagger-ui
"""
