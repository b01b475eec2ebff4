"""Downloads of reports from the storage host: the one place that handles a report link, which is a credential.

Freshchat hands out pre-signed links on a storage host that is not Freshchat. A link's query string is a credential,
and the API key must never leave the configured Freshchat origin. So downloads go through their own session, with no
auth, no cookies and no netrc; only https links (or http on loopback, for the emulator) are followed, redirects
included, each hop checked; logs and errors name a link by host and path only, and urllib3's request lines lose their
query (`LinkQueryLogFilter`, installed when this module is imported).
"""

import http.cookiejar
import logging
import tempfile
from typing import IO, Callable, Union
from urllib.parse import urljoin, urlsplit

import requests

from ..config import _is_loopback
from .errors import ReportError

logger = logging.getLogger("airbyte")


class LinkQueryLogFilter(logging.Filter):
    """urllib3 logs every request line with its query at debug level; a download link's query is a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(arg.split("?", 1)[0] if isinstance(arg, str) and "?" in arg else arg for arg in record.args)
        return True


logging.getLogger("urllib3.connectionpool").addFilter(LinkQueryLogFilter())

DOWNLOAD_ATTEMPTS = 4
MAX_REDIRECTS = 5
DOWNLOAD_TIMEOUT = (10, 300)
CHUNK_BYTES = 1 << 20


class LinkExpired(Exception):
    """The storage host refused a download link (403): it expired, and the job gives fresh ones when polled again."""


def safe_url(url: str) -> str:
    """A download link without its query string, which is a credential: scheme, host and path only."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def check_download_url(url: str) -> None:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and _is_loopback(host):
        return
    raise ReportError(
        f"Freshchat's report link points to {safe_url(url)}, which is not https; refusing to download a report over an "
        "unencrypted connection. Please report this with the sync logs."
    )


class StorageClient:
    """Downloads report links from the storage host, to temporary files, carrying no credential of ours."""

    def __init__(self, sleep: Callable[[float], None]) -> None:
        self._sleep = sleep
        self._session = requests.Session()
        self._session.trust_env = False  # no netrc credentials; proxies and CA bundle are read below, per link
        self._session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self._environment = requests.Session()  # reads the environment's proxy and CA settings, never sends

    def download(self, url: str, what: str) -> IO[bytes]:
        """A link's payload in a temporary file, retried on connection errors, 429 and 5xx; LinkExpired on a 403."""
        # Not the CDK's HttpClient and its retries: they send through a session with our authenticator, and the storage
        # host must get no credentials.
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            problem = self._try_download(url, what)
            if not isinstance(problem, str):
                return problem
            if attempt == DOWNLOAD_ATTEMPTS:
                raise ReportError(f"Could not download {what} from {safe_url(url)} after {attempt} attempts: {problem}")
            wait = 2.0 ** (attempt - 1)
            logger.info(f"Downloading {what} from {safe_url(url)} failed ({problem}); retrying in {wait:.0f}s")
            self._sleep(wait)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _try_download(self, url: str, what: str) -> Union[IO[bytes], str]:
        """The payload in a temporary file, or a text saying why this attempt failed and may be retried."""
        try:
            response = self._get_following_redirects(url)
        except requests.RequestException as error:
            return type(error).__name__
        with response:
            if response.status_code == 403:
                raise LinkExpired()
            if response.status_code == 429 or response.status_code >= 500:
                return f"HTTP {response.status_code}"
            if not response.ok:
                raise ReportError(f"The storage host answered HTTP {response.status_code} for {what} ({safe_url(url)}).")
            payload = tempfile.TemporaryFile()
            try:
                for chunk in response.iter_content(CHUNK_BYTES):
                    payload.write(chunk)
                size, expected = payload.tell(), response.headers.get("Content-Length")
                if expected and expected.isdigit() and size != int(expected):
                    payload.close()
                    return f"cut off at {size} of {expected} bytes"
            except requests.RequestException as error:
                payload.close()
                return type(error).__name__
            logger.info(f"Downloaded {what}: {payload.tell()} bytes from {safe_url(url)}")
            return payload

    def _get_following_redirects(self, url: str) -> requests.Response:
        for _ in range(MAX_REDIRECTS + 1):
            check_download_url(url)
            environment = self._environment.merge_environment_settings(url, {}, True, None, None)
            response = self._session.get(url, allow_redirects=False, timeout=DOWNLOAD_TIMEOUT, **environment)
            if not response.is_redirect:
                return response
            url = urljoin(url, response.headers.get("Location", ""))
            response.close()
        raise ReportError(f"The report link redirected more than {MAX_REDIRECTS} times; last to {safe_url(url)}.")
