"""The OpenAPI 3.1 document of the HTTP API, served at /api/openapi.json.

Written by hand next to the routes; tests/gateway/test_openapi.py checks that
every HTTP route is in it and every path in it is routed.
"""

from __future__ import annotations

from typing import Any

S = dict[str, Any]


def _ref(name: str) -> S:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: S) -> S:
    return {"content": {"application/json": {"schema": schema}}}


def _ok(schema: S, description: str = "OK", code: str = "200") -> S:
    return {code: {"description": description, **_json(schema)}}


ERRORS: S = {
    "400": {"description": "Invalid body or field", **_json(_ref("Error"))},
    "401": {"description": "Missing, unknown, expired or revoked token", **_json(_ref("Error"))},
}
AGENT: list[S] = [{"bearer": []}]
ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}


def _obj(props: S, required: list[str] | None = None) -> S:
    out: S = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    return out


STR: S = {"type": "string"}
INT: S = {"type": "integer"}
BOOL: S = {"type": "boolean"}
NSTR: S = {"type": ["string", "null"]}
NINT: S = {"type": ["integer", "null"]}

SCHEMAS: S = {
    "Error": _obj({"error": _obj({"code": STR, "message": STR}, ["code", "message"])}, ["error"]),
    "Agent": _obj(
        {
            "id": INT,
            "name": STR,
            "email": STR,
            "role": {"enum": ["agent", "lead", "admin", "marketing"]},
            "language": STR,
            "timezone": STR,
            "presence": {"enum": ["online", "busy", "offline"]},
            "teams": {"type": "array", "items": _obj({"id": INT, "name": STR})},
        }
    ),  # fmt: skip
    "Message": _obj(
        {
            "id": INT,
            "conversation_id": INT,
            "direction": {"enum": ["in", "out", "note"]},
            "private": BOOL,
            "text": STR,
            "author": {"type": ["object", "null"]},
            "client_id": NSTR,
            "status": {"enum": ["received", "pending", "sent", "delivered", "read", "failed"]},
            "attempts": INT,
            "error": NSTR,
            "attachments": {"type": "array"},
            "language": NSTR,
            "sentiment": {"type": ["object", "null"]},
            "created_at": STR,
            "edited_at": NSTR,
        }
    ),  # fmt: skip
    "Conversation": _obj(
        {
            "id": INT,
            "inbox_id": INT,
            "channel": STR,
            "contact": _obj({"id": INT, "name": NSTR, "email": NSTR}),
            "status": {"enum": ["open", "pending", "snoozed", "resolved"]},
            "subject": NSTR,
            "assignee_id": NINT,
            "team_id": NINT,
            "priority": {"enum": ["urgent", "high", "normal", "low"]},
            "waiting_since": NSTR,
            "first_response_at": NSTR,
            "last_message_at": NSTR,
            "snoozed_until": NSTR,
            "resolved_at": NSTR,
            "labels": {"type": "array", "items": STR},
            "created_at": STR,
            "last_message": {"type": ["object", "null"]},
            "unread_count": INT,
        }
    ),  # fmt: skip
    "Contact": _obj(
        {
            "id": INT,
            "name": NSTR,
            "email": NSTR,
            "phone": NSTR,
            "lifecycle_stage": {"enum": ["lead", "prospect", "customer", "churned"]},
            "attributes": {"type": "object"},
            "merged_into_id": NINT,
            "erased_at": NSTR,
            "created_at": STR,
        }
    ),
    "ContactMerge": _obj(
        {
            "id": INT,
            "kept_contact_id": INT,
            "merged_contact_id": INT,
            "moved": {"type": "object", "description": "ids of every row that moved"},
            "merged_by_agent_id": NINT,
            "merged_at": STR,
            "undone_at": NSTR,
            "undo_until": NSTR,
        }
    ),
}


def _op(summary: str, responses: S, *, body: S | None = None, agent: bool = True,
        params: list[S] | None = None) -> S:  # fmt: skip
    op: S = {"summary": summary, "responses": {**responses, **ERRORS}}
    if agent:
        op["security"] = AGENT
    if body is not None:
        op["requestBody"] = {"required": True, **_json(body)}
        op["responses"].setdefault("413", {"description": "Body too large", **_json(_ref("Error"))})
    if params:
        op["parameters"] = params
    return op


def _query(name: str, schema: S) -> S:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def paths() -> S:
    conv_list = _obj(
        {"conversations": {"type": "array", "items": _ref("Conversation")}, "last_event_id": NSTR}
    )
    history = _obj(
        {"conversation": _ref("Conversation"), "messages": {"type": "array", "items": _ref("Message")},
         "last_event_id": NSTR}
    )  # fmt: skip
    not_found = {"404": {"description": "No such resource visible to you", **_json(_ref("Error"))}}
    forbidden = {"403": {"description": "Not for your role", **_json(_ref("Error"))}}
    limited = {"429": {"description": "Rate limited; see Retry-After", **_json(_ref("Error"))}}
    return {
        "/api/openapi.json": {"get": _op("This document", _ok({"type": "object"}), agent=False)},
        "/api/auth/login": {"post": _op(
            "Log in with email and password; returns a bearer token",
            {**_ok(_obj({"token": STR, "expires_at": STR, "agent": _ref("Agent")})), **limited},
            body=_obj({"email": STR, "password": STR}, ["email", "password"]), agent=False)},
        "/api/auth/logout": {"post": _op("Revoke this token", _ok({"type": "object"}))},
        "/api/me": {
            "get": _op("The logged-in agent", _ok(_ref("Agent"))),
            "patch": _op("Change your presence, console language or time zone", _ok(_ref("Agent")),
                         body=_obj({"presence": {"enum": ["online", "busy", "offline"]},
                                    "language": {"enum": ["it", "en"]}, "timezone": STR})),
        },
        "/api/me/presence": {"put": _op(
            "Set presence", _ok(_ref("Agent")),
            body=_obj({"presence": {"enum": ["online", "busy", "offline"]}}, ["presence"]))},
        "/api/conversations": {"get": _op(
            "Conversations you may see, newest activity first", _ok(conv_list),
            params=[_query("view", {"enum": ["mine", "unassigned", "all"]}),
                    _query("status", {"enum": ["open", "pending", "snoozed", "resolved", "any"]}),
                    _query("channel", STR), _query("inbox_id", INT), _query("label", STR),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 500})])},
        "/api/conversations/{id}": {"patch": _op(
            "Change status (snooze with an optional wake-up time), assignee, team (transfer), "
            "priority or labels",
            {**_ok(_ref("Conversation")), **not_found,
             "409": {"description": "Status change not allowed", **_json(_ref("Error"))}},
            body=_obj({"status": {"enum": ["open", "pending", "snoozed", "resolved"]},
                       "snoozed_until": {"type": ["string", "null"], "format": "date-time"},
                       "assignee_id": NINT, "team_id": NINT,
                       "labels": {"type": "array", "items": STR},
                       "priority": {"enum": ["urgent", "high", "normal", "low"]}}),
            params=[ID_PARAM])},
        "/api/conversations/{id}/messages": {
            "get": _op("A conversation and its messages", {**_ok(history), **not_found},
                       params=[ID_PARAM]),
            "post": _op(
                "Reply (or add a private note) with uploaded files (ids from POST "
                "/api/attachments; text may then be empty); idempotent on client_id. "
                "The socket's reply frame does the same",
                {**_ok(_ref("Message"), "Already stored under this client_id"),
                 **_ok(_ref("Message"), "Stored", "201"), **not_found,
                 "409": {"description": "Outside the platform's reply window",
                         **_json(_ref("Error"))},
                 "413": {"description": "Text over the limit", **_json(_ref("Error"))}},
                body=_obj({"client_id": STR, "text": STR, "private": BOOL,
                           "attachments": {"type": "array", "items": STR, "maxItems": 5}},
                          ["client_id"]),
                params=[ID_PARAM]),
        },
        "/api/conversations/{id}/read": {"post": _op(
            "Mark the conversation read", {**_ok({"type": "object"}), **not_found}, params=[ID_PARAM])},
        "/api/messages/{id}/retry": {"post": _op(
            "Send a failed reply again", {**_ok(_ref("Message")), **not_found,
             "409": {"description": "The reply has not failed", **_json(_ref("Error"))}},
            params=[ID_PARAM])},
        "/api/inboxes": {"get": _op("Inboxes", _ok({"type": "array"}))},
        "/api/conversations/bulk": {"post": _op(
            "One change to up to 100 conversations (status, priority, assignee_id, add_label); "
            "each applied as its own PATCH, those not visible or not movable reported",
            {**_ok(_obj({"updated": {"type": "array", "items": INT},
                         "refused": {"type": "array", "items": _obj({"id": INT, "reason": STR})}}))},
            body=_obj({"ids": {"type": "array", "items": INT, "minItems": 1, "maxItems": 100},
                       "status": STR, "priority": STR, "assignee_id": NINT, "add_label": STR},
                      ["ids"]))},
        "/api/mentions": {"get": _op(
            "Notes that named you with @ and that you have not read (opening the "
            "conversation reads them)",
            _ok(_obj({"mentions": {"type": "array", "items": _obj(
                {"id": INT, "conversation_id": INT, "message_id": INT, "text": STR,
                 "author": NSTR, "created_at": STR})}})))},
        "/api/search": {"get": _op(
            "Conversations you may see whose messages (full text) or customer (name, email, "
            "phone) match q; newest first, at most 20",
            {**_ok(_obj({"results": {"type": "array", "items": _obj(
                {"conversation": _ref("Conversation"), "message_id": NINT, "snippet": STR})}})),
             **forbidden},
            params=[_query("q", {"type": "string", "maxLength": 200})])},
        "/api/agents": {"get": _op("Agents", _ok({"type": "array"}))},
        "/api/teams": {"get": _op("Teams", _ok({"type": "array"}))},
        "/api/canned_responses": {
            "get": _op("Canned responses", _ok({"type": "array"})),
            "post": _op("Add a canned response (admins and leads)",
                        {**_ok(CANNED, "Stored", "201"), **forbidden,
                         "409": {"description": "Short code taken", **_json(_ref("Error"))}},
                        body=_obj({"short_code": STR, "text": STR}, ["short_code", "text"])),
        },
        "/api/labels": {
            "get": _op("The label catalogue: name, colour, description", _ok({"type": "array"})),
            "post": _op("Add a label to the catalogue (admins and leads)",
                        {**_ok(_obj({"id": INT, "name": STR, "colour": STR}), "Stored", "201"),
                         **forbidden,
                         "409": {"description": "Name taken", **_json(_ref("Error"))}},
                        body=_obj({"name": STR, "colour": STR, "description": NSTR}, ["name"])),
        },
        "/api/labels/{id}": {
            "patch": _op("Recolour or describe a label (admins and leads; names stay)",
                         {**_ok(_obj({"id": INT, "name": STR, "colour": STR})), **not_found,
                          **forbidden},
                         body=_obj({"colour": STR, "description": NSTR}), params=[ID_PARAM]),
            "delete": _op("Remove a label from the catalogue; conversations keep it (admins and "
                          "leads)", {"204": {"description": "Removed"}, **not_found, **forbidden},
                          params=[ID_PARAM]),
        },
        "/api/canned_responses/{id}": {"delete": _op(
            "Remove a canned response (admins and leads)",
            {**_ok({"type": "object"}), **not_found, **forbidden},
            params=[ID_PARAM])},
        "/api/contacts/{id}": {
            "get": _op(
                "A contact with identities, conversations, recent sentiment and lifecycle history",
                {**_ok({"type": "object"}), **not_found}, params=[ID_PARAM]),
            "patch": _op(
                "Edit name, email, phone (stored in E.164) or lifecycle stage; \"\" clears a field "
                "(not marketing)",
                {**_ok(_ref("Contact")), **not_found, **FORBIDDEN,
                 "409": {"description": "Erased or merged contact", **_json(_ref("Error"))}},
                body=_obj({"name": STR, "email": STR, "phone": STR,
                           "lifecycle_stage": {"enum": ["lead", "prospect", "customer", "churned"]}}),
                params=[ID_PARAM]),
        },
        "/api/contacts/{id}/notes": {
            "get": _op("Notes about the customer (and contacts merged into them), newest first "
                       "(not marketing)",
                       {**_ok(_obj({"notes": {"type": "array", "items": _obj(
                           {"id": INT, "text": STR, "author": NSTR, "created_at": STR})}})),
                        **not_found, **FORBIDDEN}, params=[ID_PARAM]),
            "post": _op("Write a note about the customer (not marketing)",
                        {**_ok(_obj({"id": INT, "text": STR, "author": NSTR, "created_at": STR}),
                               "Stored", "201"), **not_found, **FORBIDDEN,
                         "409": {"description": "Erased contact", **_json(_ref("Error"))}},
                        body=_obj({"text": STR}, ["text"]), params=[ID_PARAM]),
        },
        "/api/contacts/{id}/merge_suggestions": {"get": _op(
            "Contacts sharing an email or a phone (normalised) with this one (not marketing)",
            {**_ok(_obj({"suggestions": {"type": "array", "items": _obj(
                {"contact": {"type": "object"}, "reasons": {"type": "array", "items": {"enum": ["email", "phone"]}},
                 "channels": {"type": "array", "items": STR}})}})), **not_found, **FORBIDDEN},
            params=[ID_PARAM])},
        "/api/contacts/{id}/merge": {"post": _op(
            "Merge other_id into this contact (kept); undoable for 24 hours (not marketing)",
            {**_ok(_obj({"merge": _ref("ContactMerge"), "contact": _ref("Contact")}), "Merged", "201"),
             **not_found, **FORBIDDEN,
             "409": {"description": "Same, merged or erased contact", **_json(_ref("Error"))}},
            body=_obj({"other_id": INT}, ["other_id"]), params=[ID_PARAM])},
        "/api/contact_merges/{id}/undo": {"post": _op(
            "Undo a merge: exactly the rows it moved go back (within 24 hours)",
            {**_ok(_obj({"merge": _ref("ContactMerge")})), **not_found, **FORBIDDEN,
             "409": {"description": "Undone already, or older than 24 hours", **_json(_ref("Error"))}},
            params=[ID_PARAM])},
        "/api/contacts/{id}/export": {"get": _op(
            "Everything stored about the contact, as a JSON download (admins; audited)",
            {**_ok(_obj({"contact": {"type": "object"}, "merged_contacts": {"type": "array"},
                         "identities": {"type": "array"}, "conversations": {"type": "array"},
                         "lifecycle_history": {"type": "array"}, "merges": {"type": "array"}})),
             **not_found, **FORBIDDEN}, params=[ID_PARAM])},
        "/api/contacts/{id}/erase": {"post": _op(
            "Erase the contact's personal data, keeping aggregates (admins; audited; irreversible)",
            {**_ok(_obj({"erased": {"type": "object"}})), **not_found, **FORBIDDEN,
             "409": {"description": "Erased already, or merged into another", **_json(_ref("Error"))}},
            params=[ID_PARAM])},
        "/api/reports/summary": {"get": _op(
            "Response, waiting and resolution times (median, p90), volumes and CSAT over a period, "
            "grouped (leads and admins)", {**_ok({"type": "object"}), **forbidden},
            params=REPORT_PARAMS)},
        "/api/reports/summary.csv": {"get": _op(
            "The same report as CSV", {"200": {"description": "text/csv"}, **forbidden},
            params=REPORT_PARAMS)},
        "/api/reports/heatmap": {"get": _op(
            "Inbound messages by weekday and hour in the inbox's time zone",
            {**_ok({"type": "object"}), **forbidden, **not_found},
            params=[*REPORT_PARAMS[:2], _query("inbox_id", INT)])},
        "/api/live": {"get": _op(
            "Queues with their longest wait, agents' presence and load, today's figures, SLA "
            "breaches (leads and admins)", {**_ok({"type": "object"}), **forbidden})},
        "/api/audit": {"get": _op(
            "The audit log, newest first (admins)",
            {**_ok(_obj({"entries": {"type": "array"}})), **forbidden},
            params=[_query("action", STR), _query("before_id", INT),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 500})])},
        **signal_paths(not_found),
        **admin_paths(not_found),
        **webhook_paths(not_found),
        "/api/widget/csat": {"post": {
            **_op("The visitor's 1-5 rating of their resolved conversation",
                  {**_ok(_obj({"conversation_id": INT, "rating": INT, "comment": NSTR})),
                   "409": {"description": "Not waiting for a rating", **_json(_ref("Error"))},
                   "404": {"description": "No conversation to rate", **_json(_ref("Error"))}},
                  body=_obj({"rating": {"type": "integer", "minimum": 1, "maximum": 5},
                             "comment": NSTR}, ["rating"]), agent=False),
            "security": [{"visitor": []}]}},
        "/api/widget/sessions": {"post": _op(
            "Start or resume a visitor session for a website inbox",
            {**_ok(_obj({"visitor_token": STR, "visitor_id": STR, "conversation_id": NINT,
                         "inbox": {"type": "object"}})),
             "404": {"description": "Unknown website_token", **_json(_ref("Error"))},
             "403": {"description": "Origin not allowed", **_json(_ref("Error"))}, **limited},
            body=_obj({"website_token": STR, "visitor_token": NSTR, "name": NSTR, "email": NSTR},
                      ["website_token"]), agent=False)},
        "/api/widget/messages": {"get": {
            **_op("The visitor's conversation (public messages)", _ok(_obj(
                {"conversation_id": NINT, "messages": {"type": "array", "items": _ref("Message")},
                 "last_event_id": NSTR})), agent=False), "security": [{"visitor": []}]}},
        "/api/widget/contact": {"post": {
            **_op("Pre-chat or offline form fields", _ok({"type": "object"}),
                  body=_obj({"name": NSTR, "email": NSTR}), agent=False),
            "security": [{"visitor": []}]}},
        "/api/widget/identify": {"post": {
            **_op("Link a site's logged-in user (hash = hex HMAC-SHA256 of id with the inbox secret)",
                  {**_ok(_obj({"contact_id": INT, "visitor_token": STR})),
                   "403": {"description": "Wrong hash", **_json(_ref("Error"))}},
                  body=_obj({"id": {"type": ["string", "integer"]}, "hash": STR, "name": NSTR,
                             "email": NSTR,
                             "attributes": {"type": "object", "maxProperties": 50,
                                            "additionalProperties": {
                                                "type": ["string", "number", "boolean", "null"]}}},
                            ["id", "hash"]), agent=False),
            "security": [{"visitor": []}]}},
        "/api/widget/attachments": {"post": {
            **_op("Upload an image or PDF as a visitor (multipart 'file'); type sniffed from content",
                  {**_ok(FILE, "Stored", "201"),
                   "413": {"description": "Over the size limit", **_json(_ref("Error"))},
                   "415": {"description": "Type not accepted", **_json(_ref("Error"))}},
                  agent=False), "security": [{"visitor": []}],
            "requestBody": UPLOAD}},
        "/api/attachments": {"post": {
            **_op("Upload a file as an agent (multipart 'file')", _ok(FILE, "Stored", "201")),
            "requestBody": UPLOAD}},
        "/api/files/{id}": {"get": _op(
            "Download a stored file (raster images inline, everything else as attachment)",
            {"200": {"description": "The file"}, **not_found}, agent=False,
            params=[{"name": "id", "in": "path", "required": True, "schema": STR}])},
        "/webhooks/{channel}/{inbox}": {
            "post": _op(
                "A platform delivers messages (verified by its signature or secret token); 200 once stored",
                {**_ok(_obj({"received": INT, "stored": INT})), **not_found,
                 "503": {"description": "Not stored; deliver again", **_json(_ref("Error"))}},
                body={"type": "object"}, agent=False, params=WEBHOOK_PARAMS),
            "get": _op(
                "Subscription check: Meta's hub.challenge, X's CRC",
                {**_ok({"type": ["object", "string"]}), **not_found,
                 "403": {"description": "Verification failed", **_json(_ref("Error"))},
                 "405": {"description": "The channel has no check", **_json(_ref("Error"))}},
                agent=False, params=WEBHOOK_PARAMS),
        },
    }  # fmt: skip


def admin_paths(not_found: S) -> S:
    """Settings: inboxes, teams and agents (admins only; see docs/settings.md)."""
    admins = {"403": {"description": "Not an admin", **_json(_ref("Error"))}}
    conflict = {"409": {"description": "Taken, or not possible now", **_json(_ref("Error"))}}
    inbox = _obj(
        {
            "id": INT,
            "name": STR,
            "channel": STR,
            "team_id": NINT,
            "timezone": STR,
            "disabled": BOOL,
            "settings": {"type": "object"},
            "secrets": {
                "type": "object",
                "additionalProperties": {"enum": ["file", "env", "missing"]},
            },
        }
    )
    inbox_body = {
        "name": STR,
        "team_id": NINT,
        "timezone": STR,
        "settings": {"type": "object"},
        "secrets": {"type": "object", "additionalProperties": STR},
    }
    team = _obj({"id": INT, "name": STR, "routing_policy": STR, "members": INT})
    policy = {"enum": ["manual", "round_robin", "least_busy"]}
    agent = _obj(
        {
            "id": INT,
            "email": STR,
            "name": STR,
            "role": STR,
            "language": STR,
            "languages": {"type": "array", "items": STR},
            "capacity": INT,
            "active": BOOL,
            "team_ids": {"type": "array", "items": INT},
        }
    )
    agent_body = {
        "name": STR,
        "role": {"enum": ["agent", "lead", "admin", "marketing"]},
        "language": {"enum": ["it", "en"]},
        "languages": {"type": "array", "items": STR},
        "capacity": INT,
        "team_ids": {"type": "array", "items": INT},
    }
    check = _obj({"ok": BOOL, "detail": STR})
    return {
        "/api/admin/inboxes": {
            "get": _op("Every inbox with its settings (secrets only by where they live)",
                       {**_ok({"type": "array", "items": inbox}), **admins}),
            "post": _op("Create an inbox of any channel; secrets given are stored as files",
                        {**_ok(inbox, "Created", "201"), **admins},
                        body=_obj({**inbox_body, "channel": {"enum": [
                            "website", "telegram", "email", "x", "messenger", "instagram",
                            "whatsapp", "api"]}}, ["name", "channel"])),
        },
        "/api/admin/inboxes/{id}": {"patch": _op(
            "Edit an inbox: settings are merged (null removes a key); disabled stops intake",
            {**_ok(inbox), **admins, **not_found},
            body=_obj({**inbox_body, "disabled": BOOL}), params=[ID_PARAM])},
        "/api/admin/inboxes/{id}/telegram_webhook": {"post": _op(
            "Point the bot's webhook at this server (Telegram setWebhook)",
            {**_ok(_obj({"url": STR})), **admins, **not_found, **conflict,
             "502": {"description": "Telegram refused or is unreachable", **_json(_ref("Error"))}},
            params=[ID_PARAM])},
        "/api/admin/inboxes/{id}/email_check": {"post": _op(
            "Log in to the inbox's IMAP and SMTP servers and say what worked",
            {**_ok(_obj({"imap": check, "smtp": check})), **admins, **not_found, **conflict},
            params=[ID_PARAM])},
        "/api/admin/teams": {
            "get": _op("Teams with their member counts", {**_ok({"type": "array", "items": team}),
                                                           **admins}),
            "post": _op("Create a team", {**_ok(team, "Created", "201"), **admins, **conflict},
                        body=_obj({"name": STR, "routing_policy": policy}, ["name"])),
        },
        "/api/admin/teams/{id}": {"patch": _op(
            "Rename a team or change how it assigns conversations",
            {**_ok(team), **admins, **not_found, **conflict},
            body=_obj({"name": STR, "routing_policy": policy}), params=[ID_PARAM])},
        "/api/admin/agents": {
            "get": _op("Every agent, active or not", {**_ok({"type": "array", "items": agent}),
                                                       **admins}),
            "post": _op("Invite an agent; the answer holds their first password, once",
                        {**_ok(agent, "Created", "201"), **admins, **conflict},
                        body=_obj({**agent_body, "email": STR}, ["email", "name"])),
        },
        "/api/admin/agents/{id}": {"patch": _op(
            "Change an agent's role, teams, languages, capacity; deactivate (ends sessions)",
            {**_ok(agent), **admins, **not_found, **conflict},
            body=_obj({**agent_body, "active": BOOL}), params=[ID_PARAM])},
    }  # fmt: skip


def webhook_paths(not_found: S) -> S:
    """Outbound event webhooks (admins only; docs/settings.md)."""
    admins = {"403": {"description": "Not an admin", **_json(_ref("Error"))}}
    hook = _obj(
        {
            "id": INT,
            "url": STR,
            "events": {"type": "array", "items": STR},
            "active": BOOL,
            "description": NSTR,
            "created_at": STR,
        }
    )
    body = {"url": STR, "events": {"type": "array", "items": STR}, "description": NSTR}
    delivery_params = [
        ID_PARAM,
        {"name": "delivery", "in": "path", "required": True, "schema": {"type": "integer"}},
    ]
    return {
        "/api/admin/webhooks": {
            "get": _op("Subscriptions (with their count of failed deliveries) and the event "
                       "names they may take", {**_ok(_obj({"webhooks": {"type": "array"},
                                                           "events": {"type": "array"}})),
                                               **admins}),
            "post": _op("Subscribe a URL to events ([] for all); the answer holds the signing "
                        "secret, once", {**_ok(hook, "Created", "201"), **admins},
                        body=_obj({**body, "active": BOOL}, ["url"])),
        },
        "/api/admin/webhooks/{id}": {
            "patch": _op("Change the URL, events or description, pause it (active), or "
                         "rotate_secret (the answer holds the new one)",
                         {**_ok(hook), **admins, **not_found},
                         body=_obj({**body, "active": BOOL, "rotate_secret": BOOL}),
                         params=[ID_PARAM]),
            "delete": _op("Delete a subscription and its delivery log",
                          {"204": {"description": "Deleted"}, **admins, **not_found},
                          params=[ID_PARAM]),
        },
        "/api/admin/webhooks/{id}/deliveries": {"get": _op(
            "The newest 100 deliveries: event, status, tries, last HTTP status or error",
            {**_ok(_obj({"deliveries": {"type": "array"}})), **admins, **not_found},
            params=[ID_PARAM, _query("status", {"enum": ["pending", "sent", "failed"]})])},
        "/api/admin/webhooks/{id}/deliveries/{delivery}/redeliver": {"post": _op(
            "Send a delivery again now (a failed one gets 8 more tries)",
            {**_ok(_obj({"id": INT, "status": STR})), **admins, **not_found,
             "409": {"description": "Sent already", **_json(_ref("Error"))}},
            params=delivery_params)},
    }  # fmt: skip


def signal_paths(not_found: S) -> S:
    """Segments, signal exports and the marketing overview (marketing, leads and admins)."""
    forbidden = {"403": {"description": "Not for this role", **_json(_ref("Error"))}}
    segment = _obj({"id": INT, "name": STR, "rules": RULES, "created_by_agent_id": NINT,
                    "created_at": STR, "updated_at": STR})  # fmt: skip
    return {
        "/api/segments": {
            "get": _op("Saved segments", {**_ok(_obj({"segments": {"type": "array",
                                                                   "items": segment}})),
                                          **forbidden}),
            "post": _op(
                "Save a segment: a rule over contacts' signals (see docs/api.md, Segments)",
                {**_ok(segment, "Stored", "201"), **forbidden,
                 "409": {"description": "Name taken", **_json(_ref("Error"))}},
                body=_obj({"name": STR, "rules": RULES}, ["name", "rules"])),
        },
        "/api/segments/{id}": {
            "get": _op("A segment with its live count of contacts",
                       {**_ok(_obj({**segment["properties"], "count": INT, "counted_at": STR})),
                        **not_found, **forbidden}, params=[ID_PARAM]),
            "delete": _op("Delete a segment", {**_ok({"type": "object"}), **not_found,
                                               **forbidden}, params=[ID_PARAM]),
            "patch": _op("Rename a segment or change its rules",
                         {**_ok(segment), **not_found, **forbidden,
                          "409": {"description": "Name taken", **_json(_ref("Error"))}},
                         body=_obj({"name": STR, "rules": RULES}), params=[ID_PARAM]),
        },
        "/api/segments/{id}/members": {"get": _op(
            "The segment's contacts with their signals, by ascending contact id",
            {**_ok(_obj({"members": {"type": "array", "items": SIGNALS},
                         "next_cursor": NSTR})), **not_found, **forbidden},
            params=[ID_PARAM, _query("cursor", STR),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 500})])},
        "/api/signals/export": {"get": _op(
            "Every contact's signals (or a segment's members), streamed; audited",
            {"200": {"description": "CSV (text/csv) or NDJSON (application/x-ndjson)"},
             **not_found, **forbidden},
            params=[_query("format", {"enum": ["csv", "ndjson"]}), _query("segment", STR)])},
        "/api/marketing/overview": {"get": _op(
            "Sentiment and volume by channel per week, segment sizes, lifecycle funnel",
            {**_ok(_obj({"from": STR, "to": STR, "weeks": {"type": "array", "items": STR},
                         "channels": {"type": "array"}, "segments": {"type": "array"},
                         "funnel": {"type": "array"}})), **forbidden},
            params=REPORT_PARAMS[:2])},
    }  # fmt: skip


RULES: S = {"type": "object", "description": "{all|any: [rule]}, {not: rule} or "
            "{signal, op, value} (attribute conditions add key)"}  # fmt: skip
NNUM: S = {"type": ["number", "null"]}
SIGNALS: S = _obj(
    {"contact_id": INT, "name": NSTR, "email": NSTR, "lifecycle_stage": STR,
     "channels": {"type": "array", "items": STR}, "first_interaction": NSTR,
     "last_interaction": NSTR, "messages_in": INT, "messages_out": INT,
     "sentiment_current": NNUM, "sentiment_trend": {"enum": ["improving", "worsening", "stable", None]},
     "sentiment_avg_30d": NNUM, "sentiment_avg_90d": NNUM, "negative_streak": INT,
     "first_response_median_s": NNUM, "csat_avg": NNUM, "csat_count": INT,
     "labels": {"type": "array", "items": STR}, "attributes": {"type": "object"}}
)  # fmt: skip


REPORT_PARAMS = [
    _query("from", {"type": "string", "format": "date-time"}),
    _query("to", {"type": "string", "format": "date-time"}),
    _query("group_by", {"enum": ["none", "channel", "inbox", "team", "agent", "label"]}),
]
FORBIDDEN = {"403": {"description": "Your role may not do this", **_json(_ref("Error"))}}
CANNED = _obj({"id": INT, "short_code": STR, "text": STR})
FILE = _obj({"id": STR, "name": STR, "content_type": STR, "size": INT, "url": STR})
UPLOAD = {"required": True, "content": {"multipart/form-data": {"schema": _obj(
    {"file": {"type": "string", "format": "binary"}}, ["file"])}}}  # fmt: skip

WEBHOOK_PARAMS = [
    {"name": "channel", "in": "path", "required": True,
     "schema": {"enum": ["telegram", "email", "x", "meta"]}},
    {"name": "inbox", "in": "path", "required": True, "schema": {"type": "integer"}},
]  # fmt: skip


def document() -> S:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Crocevia API",
            "version": "0.1.0",
            "description": "HTTP API of Crocevia. WebSocket protocols: docs/api.md.",
        },
        "paths": paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "agent session token",
                },
                "visitor": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "widget visitor token",
                },
            },
        },
    }
