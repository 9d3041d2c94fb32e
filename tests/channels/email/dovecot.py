"""A throwaway Dovecot 2.3 IMAP server run from a temp dir, for tests against a real server."""

from __future__ import annotations

import contextlib
import imaplib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

_SBIN_PATHS = "/usr/sbin:/sbin:/usr/bin:/bin"
_USER_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 10.0
REQUIRED_CAPABILITIES = frozenset({"IDLE", "UIDPLUS", "MOVE", "CONDSTORE"})

_CONFIG_TEMPLATE = """\
# Written by tests/channels/email/dovecot.py; everything lives under {root}.
base_dir = {root}/run
state_dir = {root}/state
instance_name = switchboard-test-{port}
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
default_login_user = dovenull
default_internal_user = dovecot
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:~/Maildir
mail_fsync = never
mailbox_idle_check_interval = 1 secs
# IDLE sends "* OK Still here" this often, so tests see keepalives (default: 2 mins).
imap_idle_notify_interval = 1 secs
# One passwd-file per user: Dovecot re-reads a changed passwd-file at most once a second,
# while a file it has never opened is read at once, so a new user can log in immediately.
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd.d/%u
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
protocol imap {{
  mail_max_userip_connections = 1000
}}
"""


class DovecotError(RuntimeError):
    """Dovecot could not be configured, started or stopped; the message says why."""


@dataclass(frozen=True, slots=True)
class MailUser:
    """One IMAP login on the test server."""

    name: str
    password: str


def find_binary(name: str) -> str | None:
    """A Dovecot program on PATH or in the sbin directories a non-root PATH often lacks."""
    return shutil.which(name, path=f"{os.environ.get('PATH', '')}:{_SBIN_PATHS}")


def dovecot_available() -> bool:
    """True when `dovecot` and `doveconf` are installed (Debian package dovecot-imapd)."""
    return find_binary("dovecot") is not None and find_binary("doveconf") is not None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Dovecot:
    """A Dovecot instance in its own temp dir; must be started as root (it drops privileges).

    Dovecot delays every login from an IP that recently failed one (its auth penalty, 2 s
    growing to 15 s): make deliberately failing logins through a TcpProxy whose source_host
    is another loopback address, or every later test slows down.
    """

    host = "127.0.0.1"

    def __init__(self, root: Path | None = None) -> None:
        self._own_root = root is None
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="dovecot-"))
        self.port = free_port()
        mail_user = pwd.getpwnam("dovecot")
        self.uid = mail_user.pw_uid
        self.gid = mail_user.pw_gid
        self._passwd_dir = self.root / "passwd.d"
        self._started = False

    @property
    def config_path(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self.root / "dovecot.log"

    @property
    def pid_path(self) -> Path:
        return self.root / "run" / "master.pid"

    def __enter__(self) -> Dovecot:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Write the config, launch `dovecot -c <conf>` and wait until the port answers."""
        try:
            self._launch_on_a_free_port()
            self._wait_until_answering()
            self._check_capabilities()
        except BaseException:
            self.stop()
            raise

    def _launch_on_a_free_port(self, attempts: int = 3) -> None:
        """Launch; if another process took the chosen port meanwhile, pick another one."""
        for attempt in range(1, attempts + 1):
            try:
                self._launch()
                return
            except DovecotError as exc:
                if "Address already in use" not in str(exc) or attempt == attempts:
                    raise
                self.port = free_port()

    def _launch(self) -> None:
        self._prepare_dirs()
        self.config_path.write_text(self._render_config())
        self._check_config()
        # The daemon keeps inherited descriptors open: pipes here would never reach EOF.
        startup_log = self.root / "startup.log"
        with startup_log.open("wb") as out:
            result = subprocess.run(
                [_require_binary("dovecot"), "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if result.returncode != 0:
            output = startup_log.read_text(errors="replace").strip()
            raise DovecotError(f"dovecot failed to start: {output}{self._log_tail()}")
        self._started = True

    def stop(self) -> None:
        """Stop the master with SIGTERM (its pid from master.pid), wait for it, clean up."""
        if self._started:
            self._started = False
            pid = self._read_pid()
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                self._wait_for_exit(pid)
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def add_user(self, name: str, password: str) -> MailUser:
        """Add a login ({PLAIN} password in its own passwd-file) with a home owned by `dovecot`."""
        if not _USER_NAME.fullmatch(name):
            raise ValueError(f"test user names are letters, digits, '.', '_' and '-': {name!r}")
        if ":" in password or "\n" in password:
            raise ValueError("a passwd-file password cannot hold ':' or a newline")
        passwd = self._passwd_dir / name
        if passwd.exists():
            raise ValueError(f"user {name} already exists")
        home = self.root / "home" / name
        home.mkdir(parents=True)
        os.chown(home, self.uid, self.gid)
        passwd.write_text(f"{name}:{{PLAIN}}{password}::::::\n")
        passwd.chmod(0o640)
        os.chown(passwd, 0, self.gid)
        return MailUser(name, password)

    def append(
        self,
        user: MailUser,
        messages: Iterable[bytes],
        mailbox: str = "INBOX",
        flags: str = "",
    ) -> list[int]:
        """APPEND raw messages over IMAP (as a real client would) and return their new UIDs."""
        uids: list[int] = []
        with self.client(user) as imap:
            for raw in messages:
                typ, data = imap.append(_quote(mailbox), f"({flags})" if flags else None, None, raw)
                _expect_ok(typ, data, f"APPEND to {mailbox}")
                uids.append(_appended_uid(data))
        return uids

    def create_mailbox(self, user: MailUser, mailbox: str) -> None:
        """CREATE a mailbox for the user."""
        with self.client(user) as imap:
            _expect_ok(*imap.create(_quote(mailbox)), f"CREATE {mailbox}")

    def recreate_mailbox(self, user: MailUser, mailbox: str) -> int:
        """DELETE and CREATE a mailbox so it gets a new UIDVALIDITY; returns that UIDVALIDITY."""
        if mailbox.upper() == "INBOX":
            raise ValueError("IMAP servers refuse to DELETE INBOX; recreate another mailbox")
        before = self.uidvalidity(user, mailbox)
        with self.client(user) as imap:
            _expect_ok(*imap.delete(_quote(mailbox)), f"DELETE {mailbox}")
            _expect_ok(*imap.create(_quote(mailbox)), f"CREATE {mailbox}")
        after = self.uidvalidity(user, mailbox)
        if after == before:
            raise DovecotError(f"recreating {mailbox} kept UIDVALIDITY {before}")
        return after

    def uidvalidity(self, user: MailUser, mailbox: str = "INBOX") -> int:
        """The mailbox's current UIDVALIDITY, from STATUS."""
        return self.status(user, mailbox, "UIDVALIDITY")

    def status(self, user: MailUser, mailbox: str, item: str) -> int:
        """One numeric STATUS item (UIDVALIDITY, UIDNEXT, MESSAGES, UNSEEN) of a mailbox."""
        with self.client(user) as imap:
            typ, data = imap.status(_quote(mailbox), f"({item})")
            _expect_ok(typ, data, f"STATUS {mailbox}")
        match = re.search(rf"{item} (\d+)".encode(), data[0] or b"")
        if match is None:
            raise DovecotError(f"STATUS {mailbox} did not report {item}: {data!r}")
        return int(match.group(1))

    def flags(self, user: MailUser, mailbox: str = "INBOX") -> dict[int, tuple[str, ...]]:
        """Every message's flags by UID, read with EXAMINE so nothing changes."""
        result: dict[int, tuple[str, ...]] = {}
        with self.client(user) as imap:
            _expect_ok(*imap.select(_quote(mailbox), readonly=True), f"EXAMINE {mailbox}")
            typ, data = imap.uid("FETCH", "1:*", "(UID FLAGS)")
            _expect_ok(typ, data, "UID FETCH FLAGS")
            for line in data:
                if not isinstance(line, bytes):
                    continue
                match = re.search(rb"UID (\d+) FLAGS \(([^)]*)\)", line)
                if match:
                    result[int(match.group(1))] = tuple(match.group(2).decode().split())
        return result

    @contextlib.contextmanager
    def client(self, user: MailUser) -> Iterator[imaplib.IMAP4]:
        """A logged-in blocking imaplib client, for test setup and inspection."""
        imap = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            imap.login(user.name, user.password)
            yield imap
        finally:
            with contextlib.suppress(Exception):
                imap.logout()

    def _prepare_dirs(self) -> None:
        # Login processes run as dovenull and must traverse the root to reach base_dir.
        self.root.chmod(0o755)
        for sub in ("run", "state", "home", "passwd.d"):
            (self.root / sub).mkdir(exist_ok=True)

    def _render_config(self) -> str:
        return _CONFIG_TEMPLATE.format(root=self.root, port=self.port, uid=self.uid, gid=self.gid)

    def _check_config(self) -> None:
        result = subprocess.run(
            [_require_binary("doveconf"), "-c", str(self.config_path), "-n"],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise DovecotError(f"dovecot config rejected: {result.stderr.strip()}")

    def capabilities(self, user: MailUser) -> frozenset[str]:
        """What the server offers once the user is logged in."""
        with self.client(user) as imap:
            typ, data = imap.capability()
            _expect_ok(typ, data, "CAPABILITY")
        return frozenset(data[0].decode().upper().split()) if data and data[0] else frozenset()

    def _check_capabilities(self) -> None:
        offered = self.capabilities(self.add_user("capability-probe", "probe"))
        missing = REQUIRED_CAPABILITIES - offered
        if missing:
            raise DovecotError(f"dovecot lacks {sorted(missing)}; it offers {sorted(offered)}")

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._greets():
                return
            time.sleep(0.05)
        raise DovecotError(f"dovecot did not answer on port {self.port}{self._log_tail()}")

    def _greets(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as sock:
                return sock.recv(64).startswith(b"* OK")
        except OSError:
            return False

    def _read_pid(self) -> int | None:
        try:
            return int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None

    def _wait_for_exit(self, pid: int) -> None:
        deadline = time.monotonic() + _STOP_TIMEOUT
        while time.monotonic() < deadline:
            if not _process_alive(pid):
                return
            time.sleep(0.05)
        raise DovecotError(f"dovecot master {pid} did not exit within {_STOP_TIMEOUT}s")

    def _log_tail(self, lines: int = 20) -> str:
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n--- dovecot.log ---\n" + "\n".join(tail)


def _require_binary(name: str) -> str:
    path = find_binary(name)
    if path is None:
        raise DovecotError(f"{name} is not installed (Debian package dovecot-imapd)")
    return path


def _process_alive(pid: int) -> bool:
    """True while the pid runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _quote(mailbox: str) -> str:
    escaped = mailbox.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _expect_ok(typ: str, data: list[object], what: str) -> None:
    if typ != "OK":
        raise DovecotError(f"{what} failed: {typ} {data!r}")


def _appended_uid(data: list[object]) -> int:
    """The UID from the `[APPENDUID <validity> <uid>]` response code (UIDPLUS)."""
    text = data[0] if data and isinstance(data[0], bytes) else b""
    match = re.search(rb"APPENDUID \d+ (\d+)", text)
    if match is None:
        raise DovecotError(f"APPEND answered without APPENDUID: {data!r}")
    return int(match.group(1))


@dataclass(frozen=True, slots=True)
class ImapAccount:
    """A fresh mail user on the test Dovecot, with an empty INBOX."""

    server: Dovecot
    user: MailUser
    mailbox: str = "INBOX"

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def password(self) -> str:
        return self.user.password

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    def url(self, mailbox: str | None = None, port: int | None = None) -> str:
        """`imap://user:password@127.0.0.1:<port>/<mailbox>`, parts percent-encoded."""
        user, password = quote(self.name, safe=""), quote(self.password, safe="")
        box = quote(mailbox or self.mailbox, safe="")
        return f"imap://{user}:{password}@{self.host}:{port or self.port}/{box}"

    def append(self, *messages: bytes, mailbox: str | None = None, flags: str = "") -> list[int]:
        return self.server.append(self.user, messages, mailbox or self.mailbox, flags)
