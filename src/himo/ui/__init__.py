"""The dashboard (`himo ui`): a read-only FastAPI app over the metadata store.

    app.py        the app factory: pages (Jinja2), the JSON API under /api, token auth, path checks
    data.py       the dashboard's own queries (grid strip, filters, metrics) as SQLAlchemy selects
    plotpage.py   the self-contained HTML file `himo plots show` writes (no web framework loaded)
    templates/    server-rendered pages; static/  CSS, JS, the icon and the vendored cytoscape,
                  cytoscape-dagre (with dagre), chart.js, swagger-ui, vega 6.4.0, vega-lite 6.5.0,
                  vega-embed 7.3.0 (npm; licences beside them)
"""
