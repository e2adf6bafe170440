"""Extension objects created once at import time and bound to an app in `create_app`."""

from __future__ import annotations

from flask_socketio import SocketIO

# Module level so that handlers in webapp.events can be declared with @socketio.on before
# any app exists (Flask-SocketIO #362). Only the most recently created app is served by it.
socketio = SocketIO()
