"""H5Web's server part, loaded when it is first used.

jupyterlab_h5web's own server extension imports h5py and h5grove as each
server starts: about 33 MB and 0.2 CPU-seconds per server
(docs/benchmarks.md), whether or not its user ever opens an HDF5 file.
This extension is enabled in its place (jupyter_server_config.py). It
serves the same routes with stand-ins that import jupyterlab_h5web's
handlers on the first request and let the real handler answer it. The
viewer in JupyterLab is unchanged: it is a separate lab extension.
"""
import importlib
from pathlib import Path

from jupyter_server.utils import url_path_join
from tornado.web import RequestHandler

# The routes of jupyterlab_h5web.handlers.setup_handlers (12.x): the URL's
# last part and the handler class. A test compares them with it.
ENDPOINTS = {"attr": "AttributeHandler", "data": "DataHandler",
             "meta": "MetadataHandler", "paths": "PathsHandler"}


def stand_in(class_name):
    """A handler class whose instances are the real handler's."""
    class StandIn(RequestHandler):
        def __new__(cls, application, request, **kwargs):
            handlers = importlib.import_module("jupyterlab_h5web.handlers")
            return getattr(handlers, class_name)(application, request, **kwargs)

    StandIn.__name__ = StandIn.__qualname__ = f"Lazy{class_name}"
    return StandIn


def routes(base_url, root_dir):
    return [(url_path_join(base_url, "h5web", endpoint), stand_in(name),
             {"base_dir": Path(root_dir)}) for endpoint, name in ENDPOINTS.items()]


def _jupyter_server_extension_points():
    return [{"module": "hdfhub_h5web"}]


def _load_jupyter_server_extension(server_app):
    server_app.web_app.add_handlers(
        ".*$", routes(server_app.web_app.settings["base_url"], server_app.root_dir))
    server_app.log.info("H5Web's handlers load on first use (hdfhub_h5web)")
