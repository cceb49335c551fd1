"""The demo page: ``python -m train demo --ckpt RUN`` serves a local page where a query finds its moments.

:mod:`demo.videos` holds the videos a page can query (built-in synthetic, uploaded features or video files,
cached per video), :mod:`demo.app` answers the page's requests with ``engine.Localizer``, :mod:`demo.server`
is the HTTP layer (standard library) with the static page in ``demo/static``, :mod:`demo.cli` the command.
docs/design.md §11.3 says why it is not Gradio.
"""
