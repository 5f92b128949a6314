"""The live web view: the camera with overlays as MJPEG, status, the path, Stop and go-to.

Modules: ``view`` (WebView, start/stop, --web parsing), ``encoder`` (the one JPEG encoder),
``ring`` (the JPEG buffers every viewer reads), ``overlay`` (drawing), ``server`` (aiohttp
handlers), ``security`` (Host, token, same-origin), ``thread`` (the event loop's thread),
``trail`` (the path), ``static/`` (the page).
"""
