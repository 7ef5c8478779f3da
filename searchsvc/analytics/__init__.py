"""What readers search for: every search of the page and the API recorded, and the report on them.

``recorder.Recorder`` takes a search from the web part without doing any I/O on the request's path (a queue, and a
writer thread per process that writes batches); ``store`` is the SQLite database (WAL, short transactions, old
records removed); ``report`` reads it for ``searchsvc analytics`` (text, JSON, one self-contained HTML page).
Nothing that identifies a reader is recorded: no address, cookie or user agent.

May import ``searchsvc.analytics`` and ``searchsvc.config`` only: it knows nothing of the engine or of Flask, and
the routes know nothing of SQLite (they call ``Recorder.record`` through the app's extensions).
"""
