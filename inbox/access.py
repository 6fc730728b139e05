"""Who may see which conversation. One rule, used by the REST API and the sockets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false, or_, true

from inbox.model import Agent, Conversation, Role


@dataclass(frozen=True, slots=True)
class Viewer:
    agent_id: int
    role: str
    team_ids: frozenset[int]

    @classmethod
    def of(cls, agent: Agent) -> Viewer:
        return cls(agent.id, agent.role, frozenset(t.id for t in agent.teams))

    @property
    def sees_everything(self) -> bool:
        """Admins; and a lead of no team in particular (the head of customer care). A lead
        of teams sees those teams, like their agents do (docs/security.md)."""
        return self.role == Role.ADMIN or (self.role == Role.LEAD and not self.team_ids)

    @property
    def leads(self) -> bool:
        return self.role in (Role.ADMIN, Role.LEAD)

    @property
    def report_teams(self) -> frozenset[int] | None:
        """The teams whose figures this viewer's reports cover; None for all."""
        return None if self.sees_everything else self.team_ids

    @property
    def signal_teams(self) -> frozenset[int] | None:
        """Whose customers' signals, segments and exports this viewer reads: the contacts
        with a conversation in these teams (a team's lead or marketer); None for all
        (admins, and people of no team in particular)."""
        return None if self.role == Role.ADMIN or not self.team_ids else self.team_ids

    @property
    def sees_presence(self) -> bool:
        """Who is online is for the people who take or hand out conversations."""
        return self.reads_conversations

    @property
    def reads_conversations(self) -> bool:
        return self.role != Role.MARKETING

    def may_see(self, team_id: int | None, assignee_id: int | None) -> bool:
        """Admins (and a lead of no team) see all; an agent or a team lead sees what is
        assigned to them, what belongs to one of their teams, and what has no team;
        marketing sees none."""
        if not self.reads_conversations:
            return False
        if self.sees_everything or assignee_id == self.agent_id:
            return True
        return team_id is None or team_id in self.team_ids

    def may_see_dict(self, conv: dict[str, Any]) -> bool:
        return self.may_see(conv.get("team_id"), conv.get("assignee_id"))

    def may_see_row(self, conv: Conversation) -> bool:
        return self.may_see(conv.team_id, conv.assignee_id)

    def sql_filter(self) -> ColumnElement[bool]:
        if not self.reads_conversations:
            return false()
        if self.sees_everything:
            return true()
        return or_(
            Conversation.assignee_id == self.agent_id,
            Conversation.team_id.is_(None),
            Conversation.team_id.in_(sorted(self.team_ids)),
        )
