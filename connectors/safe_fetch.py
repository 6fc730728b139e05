"""Fetching remote URLs without server-side request forgery (CVE-2021-3742 style).

Crocevia fetches a URL only when a connector needs the platform's own API: Telegram
files (getFile), Meta Graph profiles. Every such request goes through a `FetchPolicy`:

- the scheme is https (plain http only for a host the operator configured explicitly);
- the host is on the connector's allow-list (the platform's API hosts, plus the host of
  an `api_base_url` the operator set in the inbox settings);
- every address the host resolves to must be public: loopback, private, link-local,
  multicast, reserved, unspecified and shared addresses (IPv4 and IPv6, including
  IPv4-mapped IPv6) are refused, unless the host is one the operator configured
  explicitly (a local Bot API server, the tests' fakes) - never by default;
- `fetch` connects to the address it checked (no second DNS answer can swap it), does
  not follow redirects except to allowed hosts (each hop checked again, at most
  `max_redirects`), and stops at `max_bytes` and after `timeout` seconds.

`guard(policy)` is an httpx request hook that applies the same host and address
checks to every request of a client that talks to one API (Meta's Graph client).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURL(ValueError):
    """The URL's scheme, host or addresses are not allowed by the policy."""


class FetchFailed(Exception):
    """The fetch was allowed but did not succeed (network, status, size, time)."""


class TooLarge(FetchFailed):
    """The answer is larger than the policy's `max_bytes`."""


def host_of(url: str) -> str:
    return (httpx.URL(url).host or "").lower()


def is_public(ip: IPAddress) -> bool:
    """Whether `ip` is a globally routable unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            return is_public(mapped)
        if ip.teredo is not None:
            return False
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_unspecified
    )


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    hosts: frozenset[str]
    # Hosts the operator configured (an inbox's api_base_url): these may resolve to
    # non-public addresses and may be reached over plain http.
    configured_hosts: frozenset[str] = field(default_factory=frozenset)
    max_bytes: int = 20 * 1024 * 1024
    timeout: float = 30.0
    max_redirects: int = 3

    @classmethod
    def for_api(
        cls,
        default_base_url: str,
        configured_base_url: str | None,
        *,
        extra_hosts: Iterable[str] = (),
        max_bytes: int = 20 * 1024 * 1024,
        timeout: float = 30.0,
    ) -> FetchPolicy:
        """The platform's API host (and `extra_hosts`), plus the host of a different
        `api_base_url` the operator configured for the inbox."""
        hosts = {host_of(default_base_url), *(h.lower() for h in extra_hosts)}
        configured: set[str] = set()
        if configured_base_url and configured_base_url.rstrip("/") != default_base_url:
            host = host_of(configured_base_url)
            if host:
                hosts.add(host)
                configured.add(host)
        return cls(frozenset(hosts), frozenset(configured), max_bytes, timeout)

    def check_url(self, url: str | httpx.URL) -> httpx.URL:
        try:
            parsed = httpx.URL(str(url))
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise UnsafeURL(f"not a URL: {exc}") from None
        host = (parsed.host or "").lower()
        if not host:
            raise UnsafeURL(f"no host in {str(url)[:200]!r}")
        if parsed.userinfo:
            raise UnsafeURL("credentials in URLs are not allowed")
        if host not in self.hosts:
            raise UnsafeURL(f"host {host!r} is not allowed here")
        if parsed.scheme != "https" and not (
            parsed.scheme == "http" and host in self.configured_hosts
        ):
            raise UnsafeURL(f"scheme {parsed.scheme!r} is not allowed for {host!r}")
        return parsed

    async def resolve(self, url: httpx.URL) -> list[IPAddress]:
        """The addresses of the URL's host; UnsafeURL if any is not public (unless the
        host was configured explicitly)."""
        host = (url.host or "").lower()
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
            except OSError as exc:
                raise FetchFailed(f"cannot resolve {host!r}: {exc}") from None
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        if not addresses:
            raise FetchFailed(f"{host!r} has no address")
        if host not in self.configured_hosts:
            bad = [str(a) for a in addresses if not is_public(a)]
            if bad:
                raise UnsafeURL(f"{host!r} resolves to non-public address {', '.join(bad)}")
        return addresses


def pinned(url: httpx.URL, ip: IPAddress) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
    """The URL with its host replaced by the checked address, the Host header and TLS name."""
    target = url.copy_with(host=str(ip))
    headers = {"Host": url.netloc.decode("ascii")}
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    return target, headers, extensions


async def fetch(
    url: str, policy: FetchPolicy, *, headers: dict[str, str] | None = None
) -> tuple[bytes, str | None]:
    """GET `url` under `policy`: the body and its Content-Type. Raises UnsafeURL for a
    refused URL (or redirect) and FetchFailed for anything else that went wrong."""
    current = policy.check_url(url)
    try:
        async with asyncio.timeout(policy.timeout):
            async with httpx.AsyncClient(
                follow_redirects=False, timeout=policy.timeout, trust_env=False
            ) as http:
                for _hop in range(policy.max_redirects + 1):
                    ip = (await policy.resolve(current))[0]
                    target, host_header, extensions = pinned(current, ip)
                    request = http.build_request(
                        "GET", target, headers={**(headers or {}), **host_header},
                        extensions=extensions,
                    )  # fmt: skip
                    response = await http.send(request, stream=True)
                    try:
                        if response.is_redirect:
                            location = response.headers.get("location", "")
                            current = policy.check_url(current.join(location))
                            continue
                        if not response.is_success:
                            raise FetchFailed(f"{current.host} answered {response.status_code}")
                        return await _read_limited(
                            response, policy.max_bytes
                        ), response.headers.get("content-type")
                    finally:
                        await response.aclose()
                raise FetchFailed(f"more than {policy.max_redirects} redirects")
    except TimeoutError:
        raise FetchFailed(f"no complete answer within {policy.timeout} s") from None
    except httpx.HTTPError as exc:
        raise FetchFailed(f"{type(exc).__name__}: {exc}") from None


async def _read_limited(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"the file is {declared} bytes; the limit is {max_bytes}")
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise TooLarge(f"the file is over the limit of {max_bytes} bytes")
    return bytes(body)


def guard(policy: FetchPolicy) -> Callable[[httpx.Request], Awaitable[None]]:
    """An httpx `request` event hook refusing requests the policy does not allow."""

    async def check(request: httpx.Request) -> None:
        await policy.resolve(policy.check_url(request.url))

    return check
