"""An MCP server over stdio made by ``Toolset.mcp_server`` whose tools return images and
files (``Media``): ``python tests/support/mcp_media_server.py``."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pipeline import Media, Toolset, skill

# A 1x1 PNG, and the smallest PDF a reader opens.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


@skill
async def chart(symbol: str) -> list[Any]:
    """A price chart."""
    return [f"The chart of {symbol}:", Media(PNG, "image/png", "chart.png")]


@skill
async def report(symbol: str) -> Media:
    """A report as a PDF."""
    return Media(PDF, "application/pdf", f"{symbol}.pdf")


TOOLS = Toolset([chart, report])

if __name__ == "__main__":
    TOOLS.mcp_server("skillstream-media").run("stdio")
