"""Images and files a tool returns, sent back as each provider's own blocks.

A tool returns a :class:`Media` (bytes and their media type), or a list mixing text,
values and ``Media``; an MCP server's image, audio or binary resource comes as one too.
The reply carries them as the provider takes them: Anthropic ``image`` and ``document``
blocks in the ``tool_result``, Responses ``input_image`` and ``input_file`` items in the
``function_call_output``, MCP ``image``, ``audio`` and ``resource`` content. Chat
Completions tool messages take text only: there the reply says what was returned and
that it cannot be shown.
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Media", "media_parts", "render"]

# What Anthropic's tool_result takes: images of these types, PDFs and plain text documents.
_ANTHROPIC_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


@dataclass(frozen=True)
class Media:
    """An image or a file a tool returns: its bytes and their media type. The model gets
    it as an image or a file where the provider takes one (see the guide's "Images and
    files").

    Examples:
        >>> @skill
        ... async def chart(symbol: str) -> list:
        ...     '''A price chart.'''
        ...     return [f"The chart of {symbol}:", Media(png_bytes, "image/png")]
        >>> Media.from_path("report.pdf").media_type
        'application/pdf'

    Raises:
        TypeError: ``data`` is not bytes, or ``media_type`` not a ``type/subtype`` text.
    """

    data: bytes
    """The content."""
    media_type: str
    """Its IANA media type: ``image/png``, ``application/pdf``, ``text/plain``..."""
    name: str | None = None
    """A file name, given to the model where the provider takes one."""

    def __post_init__(self) -> None:
        if not isinstance(self.data, (bytes, bytearray, memoryview)):
            raise TypeError(f"Media data is bytes, not {type(self.data).__name__}")
        if not isinstance(self.media_type, str) or "/" not in self.media_type:
            raise TypeError(f"Media media_type is a type/subtype text such as 'image/png', not {self.media_type!r}")
        object.__setattr__(self, "data", bytes(self.data))

    @classmethod
    def from_path(cls, path: str | Path, media_type: str | None = None) -> Media:
        """A file's content, its media type guessed from its name unless given.

        Raises:
            ValueError: the media type cannot be guessed from the name.
        """
        path = Path(path)
        kind = media_type or mimetypes.guess_type(path.name)[0]
        if kind is None:
            raise ValueError(f"cannot tell the media type of {path.name!r}; give media_type=")
        return cls(path.read_bytes(), kind, path.name)

    @property
    def base64(self) -> str:
        """The data in base64."""
        return base64.b64encode(self.data).decode("ascii")

    def __repr__(self) -> str:
        named = f", name={self.name!r}" if self.name else ""
        return f"Media(<{len(self.data)} bytes>, {self.media_type!r}{named})"

    def describe(self) -> str:
        """A few words for a text-only reply: ``image/png 'chart.png' (1.2 kB)``."""
        named = f" {self.name!r}" if self.name else ""
        size = len(self.data)
        amount = f"{size} bytes" if size < 1000 else f"{size / 1000:.1f} kB"
        return f"{self.media_type}{named} ({amount})"


def _from_mcp(content: Any) -> Media | None:
    """An MCP ``ImageContent``, ``AudioContent`` or ``EmbeddedResource`` with a blob, as
    Media (an object of the mcp package or its JSON form)."""
    get = content.get if isinstance(content, Mapping) else lambda k, d=None: getattr(content, k, d)
    kind = get("type")
    if kind in ("image", "audio"):
        media_type = get("mimeType") or get("mime_type")
        data = get("data")
        if isinstance(media_type, str) and isinstance(data, str):
            return Media(base64.b64decode(data), media_type)
    if kind == "resource":
        resource = get("resource")
        rget = resource.get if isinstance(resource, Mapping) else lambda k, d=None: getattr(resource, k, d)
        blob, media_type = rget("blob"), rget("mimeType") or rget("mime_type")
        if isinstance(blob, str) and isinstance(media_type, str):
            uri = str(rget("uri") or "")
            return Media(base64.b64decode(blob), media_type, uri.rsplit("/", 1)[-1] or None)
    return None


def _is_mcp_media(value: Any) -> bool:
    return type(value).__module__.startswith("mcp.") and getattr(value, "type", None) in ("image", "audio", "resource")


def media_parts(value: Any) -> list[Any] | None:
    """``value`` as the parts of a reply (texts, values and Media) when it holds media;
    ``None`` (most values: nothing to do) when it holds none."""
    if isinstance(value, Media):
        return [value]
    if _is_mcp_media(value):
        found = _from_mcp(value)
        return [found] if found is not None else None
    if isinstance(value, (list, tuple)) and any(isinstance(v, Media) or _is_mcp_media(v) for v in value):
        parts: list[Any] = []
        for item in value:
            if _is_mcp_media(item):
                item = _from_mcp(item) or item
            elif type(item).__module__.startswith("mcp.") and getattr(item, "type", None) == "text":
                item = item.text
            parts.append(item)
        return parts
    return None


def render(provider: str, parts: list[Any], as_text: Any) -> Any:
    """The reply's content for ``provider``; ``as_text`` writes a value that is not text
    or Media."""
    texts = [p if isinstance(p, str) else None if isinstance(p, Media) else as_text(p) for p in parts]
    if provider == "anthropic":
        return [_anthropic(p) if t is None else {"type": "text", "text": t} for p, t in zip(parts, texts, strict=True)]
    if provider == "openai-responses":
        return [_responses(p) if t is None else {"type": "input_text", "text": t} for p, t in zip(parts, texts, strict=True)]
    if provider == "mcp":
        return [_mcp(p) if t is None else {"type": "text", "text": t} for p, t in zip(parts, texts, strict=True)]
    # Chat Completions: a tool message is text only.
    return "\n".join(
        t if t is not None else f"[The tool returned {p.describe()}; it cannot be shown here: this API takes text only in tool results.]"
        for p, t in zip(parts, texts, strict=True)
    )


def _anthropic(media: Media) -> dict[str, Any]:
    if media.media_type in _ANTHROPIC_IMAGES:
        return {"type": "image", "source": {"type": "base64", "media_type": media.media_type, "data": media.base64}}
    named = {"title": media.name} if media.name else {}
    if media.media_type == "application/pdf":
        return {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": media.base64}, **named}
    if media.media_type == "text/plain":
        text = media.data.decode("utf-8", errors="replace")
        return {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": text}, **named}
    return {"type": "text", "text": f"[The tool returned {media.describe()}; Anthropic takes JPEG, PNG, GIF and WebP images, PDFs and plain text only.]"}


def _responses(media: Media) -> dict[str, Any]:
    url = f"data:{media.media_type};base64,{media.base64}"
    if media.media_type.startswith("image/"):
        return {"type": "input_image", "image_url": url}
    return {"type": "input_file", "file_data": url, "filename": media.name or _file_name(media)}


def _mcp(media: Media) -> dict[str, Any]:
    if media.media_type.startswith(("image/", "audio/")):
        return {"type": media.media_type.split("/", 1)[0], "data": media.base64, "mimeType": media.media_type}
    uri = f"attachment://{media.name or _file_name(media)}"
    return {"type": "resource", "resource": {"uri": uri, "mimeType": media.media_type, "blob": media.base64}}


def _file_name(media: Media) -> str:
    return "file" + (mimetypes.guess_extension(media.media_type) or "")
