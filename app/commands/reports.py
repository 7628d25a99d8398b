"""flask mail-sink: the local SMTP server `make run` starts, keeping every message under var/mail/."""
from __future__ import annotations

from urllib.parse import urlsplit

import click
from flask import current_app
from flask.cli import with_appcontext
from app.integrations.mail_sink import mail_dir, serve_forever


@click.command("mail-sink")
@click.option("--port", type=int, help="Port to listen on (default: SMTP_URL's, 8025).")
@with_appcontext
def mail_sink_command(port):
    """Accept mail on 127.0.0.1 and keep each message as an .eml file under var/mail/."""
    url = urlsplit(current_app.config["SMTP_URL"])
    port = port or url.port or 8025
    directory = mail_dir(current_app.config["VAR_DIR"])
    click.echo(f"mail sink on 127.0.0.1:{port}, keeping messages in {directory}")
    serve_forever(directory, "127.0.0.1", port)


COMMANDS = [mail_sink_command]
