"""Thin paramiko wrapper: run one command on a host whose key is pinned (no trust on first use)."""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import paramiko


class HostKeyMismatch(Exception):
    """The server did not present the pinned host key: we never authenticate or run anything."""


class SshFailure(Exception):
    """Could not connect, authenticate or run (the message says which)."""


@dataclass
class CommandResult:
    exit_code: int
    output: str


def parse_public_key(line: str) -> paramiko.PKey:
    """'ssh-ed25519 AAAA... [comment]' -> a paramiko key (ValueError when it is not one)."""
    parts = (line or "").split()
    if len(parts) < 2:
        raise ValueError("a host key is '<type> <base64>' as in known_hosts or a .pub file")
    try:
        return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1]))
    except Exception as exc:  # paramiko raises several types for a bad blob
        raise ValueError(f"not a public key: {exc}") from exc


def load_private_key(text: str) -> paramiko.PKey:
    """An OpenSSH/PEM private key from its text (any type paramiko knows)."""
    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise SshFailure("the private key could not be read")


def run_command(host: str, port: int, username: str, host_key: str, private_key: paramiko.PKey,
                command: str, timeout: float, connect_timeout: float = 15) -> CommandResult:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    pinned = parse_public_key(host_key)
    name = host if port == 22 else f"[{host}]:{port}"
    client.get_host_keys().add(name, pinned.get_name(), pinned)
    try:
        client.connect(host, port=port, username=username, pkey=private_key, timeout=connect_timeout,
                       banner_timeout=connect_timeout, auth_timeout=connect_timeout,
                       allow_agent=False, look_for_keys=False)
    except paramiko.BadHostKeyException as exc:
        raise HostKeyMismatch(f"host key mismatch: the server presented {exc.key.get_name()} "
                              f"{exc.key.fingerprint}, pinned is {exc.expected_key.fingerprint}") from exc
    except paramiko.AuthenticationException as exc:
        raise SshFailure(f"authentication failed for {username}: {exc}") from exc
    except paramiko.SSHException as exc:  # includes RejectPolicy's "not found in known_hosts"
        raise SshFailure(f"SSH error: {exc}") from exc
    except OSError as exc:
        raise SshFailure(f"could not connect to {host}:{port}: {exc}") from exc
    try:
        _, stdout, stderr = client.exec_command(command, timeout=timeout)
        channel = stdout.channel
        out = stdout.read() + stderr.read()
        code = channel.recv_exit_status()
        return CommandResult(code, out.decode("utf-8", errors="replace")[-20000:])
    except (paramiko.SSHException, OSError, TimeoutError) as exc:  # a socket timeout is an OSError
        raise SshFailure(f"the command did not finish: {exc}") from exc
    finally:
        client.close()
