"""`ich view`: the browser workstation (trame-slicer) on this machine.

Serves on 127.0.0.1 by default. Serving on another address exposes patient images to the
network, so it needs `--allow-remote`, prints a warning and requires the printed token.
"""

from __future__ import annotations

import signal
import socket
import sys

from ..errors import OptionError
from .common import PORT, add_ct_options, add_output, ct_policy

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def register(sub) -> None:
    p = sub.add_parser("view", help="open the browser workstation (view, segment, edit, measure, export)")
    p.add_argument("ct", nargs="?", help="CT to open (NIfTI, NRRD, MHA or a DICOM folder)")
    p.add_argument("--mask", help="mask to open with the CT (NIfTI or .seg.nrrd)")
    p.add_argument("--followup", help="follow-up CT of the same patient (for the expansion verdict)")
    p.add_argument("--followup-mask", help="mask of the follow-up CT (else press Segment to make one)")
    p.add_argument("--port", type=PORT, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to serve on (default {DEFAULT_HOST}, this machine only)")
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host (a token is then required)")
    add_ct_options(p)
    add_output(p, "--export-dir", help="default folder of the Export button (default: beside the CT)", kind="folder")
    p.set_defaults(func=run)


def _check_port(host: str, port: int) -> None:
    """A port in use would fail deep inside the server, after the scans were loaded."""
    if port == 0:
        return
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise OptionError(None, f"--port {port}: cannot serve on {host}:{port} ({exc.strerror or exc}); choose another port or 0 for a free one") from None


def run(args) -> int:
    # deferred: the web workstation's modules load only when `ich view` runs, so `ich --help` stays fast
    from ..web.access import aiohttp_middleware, check_host, is_loopback, new_token

    check_host(args.host, args.allow_remote)
    _check_port(args.host, args.port)
    # deferred: trame and the workstation (the [scene] extra) load only once the host and port are checked
    from trame.app import get_server
    from ..web.app import Workstation

    server = get_server("ichkit", client_type="vue3")
    app = Workstation(server)
    if args.ct:
        app.load_files(args.ct, args.mask, ct_policy(args))
        if args.followup:  # --series names the baseline's series; --tilt holds for both
            app.load_followup_files(args.followup, args.followup_mask, ct_policy(args, series=False))
    if args.export_dir:
        app.export_default = app.state.export_dir = args.export_dir
    query = ""
    if not is_loopback(args.host):
        token = new_token()
        query = f"?token={token}"
        server.controller.on_server_bind.add(lambda wslink: wslink.app.middlewares.append(aiohttp_middleware(token)))
        print(f"warning: serving on {args.host}: anyone who can reach this address and has the token can see these images", file=sys.stderr)

    def ready(**_):
        print(f"ICH workstation at http://{args.host}:{server.port}/{query}", flush=True)

    server.controller.on_server_ready.add(ready)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a terminated server still deletes its uploads
    try:
        server.start(host=args.host, port=args.port, open_browser=False, show_connection_info=False)
    finally:
        app.close()
    return 0
