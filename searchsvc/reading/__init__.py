"""Reading articles: JSON Lines, portal text exports, HTML pages, RSS/Atom feeds and sitemaps, into ``Article``.

The first stage of the data flow (files → readers → analysis → index → engine → web/CLI). Readers never raise
on bad input; they yield problems beside articles. May import only ``searchsvc.reading``: no analysis, no index.
"""
