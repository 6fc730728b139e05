"""The lead's report download opens right in Excel: Italian for an Italian lead."""

from __future__ import annotations

import csv
import io

import httpx
from conftest import Services, World, make_staff
from crocevia_clients import login
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


async def test_the_report_csv_follows_the_leads_language(
    services: Services, world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    email, password = await make_staff(db, "lead", world.team_id)
    token = await login(services.base_url, email, password)
    async with httpx.AsyncClient(base_url=services.base_url,
                                 headers={"Authorization": f"Bearer {token}"}) as http:  # fmt: skip
        r = await http.get("/api/reports/summary.csv", params={"group_by": "channel"})
        assert r.status_code == 200 and r.text.startswith("\ufeff")
        header = next(csv.reader(io.StringIO(r.text.removeprefix("\ufeff")), delimiter=";"))
        assert header[:3] == ["gruppo", "nome", "conversazioni"]
        assert "prima risposta mediana (s)" in header
        assert (await http.patch("/api/me", json={"language": "en"})).status_code == 200
        r = await http.get("/api/reports/summary.csv", params={"group_by": "channel"})
        header = next(csv.reader(io.StringIO(r.text.removeprefix("\ufeff"))))
        assert header[:3] == ["group", "name", "conversations"]
