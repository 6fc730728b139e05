"""How mail clients mark the mail a reply answers, in the languages our customers write.

Patterns only; `connectors.email_quotes` decides what to do with them. Each was read
from what real clients write (Gmail, Outlook desktop/web/mobile, Apple Mail, iOS,
Android, Thunderbird, Windows Mail, Yahoo, Libero, Virgilio, Zoho) in Italian,
English, French, German, Spanish, Dutch, Portuguese, Polish and the Nordic languages.
"""

from __future__ import annotations

import re

#: The verb of an attribution line ("… wrote:", "… ha scritto:", "… schrieb …:").
_VERBS = (
    r"wrote|writes|ha scritto|hai scritto|scrive|a écrit|a ecrit|écrit|schrieb|schreibt|"
    r"escribió|escribio|escreveu|escrevi|schreef|skrev|skrev følgende|kirjoitti|"
    r"napisał\(a\)|napisał|napisała|napisal|pisze|пишет|написал\(а\)|написал|написала|"
    r"пише|написав|написала|yazdı|írta|napsal\(a\)|napsal|scrise|έγραψε"
)
#: "… wrote:" at the end, or the verb then who wrote it ("schrieb Max <m@x.de>:").
_ATTRIBUTION = re.compile(rf"^.{{0,400}}?\b(?:{_VERBS})(?:\s.{{0,250}})?\s*:\s*$", re.IGNORECASE)
#: Gmail's date-first form: "2017-11-24 16:32 GMT+01:00 Name <a@b>:", "30.09.2017, 18.30, "N" <a@b>:".
_DATE_FIRST = re.compile(
    r"^\s*\d{1,4}[-./]\d{1,2}[-./]\d{1,4}\b.{0,250}?<?[\w.+'-]+@[\w-]+(?:\.[\w-]+)+>?\)?\s*:\s*$"
)
#: Any date and time, then who: "11:00 AM, November 17, 2021, "N" <a@b>:" (Yandex, Mail.ru).
_DATED_ADDRESS = re.compile(
    r"^(?=.{0,80}\d{1,2}[:.]\d{2}).{0,250}[<(][\w.+'-]+@[\w-]+(?:\.[\w-]+)+[>)]\s*:\s*$"
)
#: Zoho's "---- On Wed, 24 Feb 2021 14:02:50 +0530 a@b wrote ----"; "On … a@b wrote" with no colon.
_DASHED = re.compile(rf"^\s*-{{2,}}\s*.{{5,300}}\b(?:{_VERBS})\s*-{{2,}}\s*$", re.IGNORECASE)
_NO_COLON = re.compile(rf"^\s*on\s.{{5,300}}@.{{0,100}}\b(?:{_VERBS})\s*$", re.IGNORECASE)
#: Google Inbox and others put the name first: "Max <m@x.de> schrieb am Fr., 28. Apr. 2017:".
_NAME_FIRST = re.compile(
    rf"^[^<>:]{{1,100}}[<(][\w.+'-]+@[\w-]+(?:\.[\w-]+)+[>)]\s*(?:{_VERBS})\b", re.IGNORECASE
)
#: Gmail's date-first form without the colon: "2013/7/20 Name <a@b>", "2016-03-03 17:21 GMT+01:00 Name".
_GMAIL_DATE = re.compile(
    r"^\s*(?:\d{4}[-/]\d{1,2}[-/]\d{1,2}\s.{0,150}<[\w.+'-]+@[\w-]+(?:\.[\w-]+)+>|"
    r"\d{4}-\d{2}-\d{2} \d{1,2}:\d{2} GMT[+-]\d{1,2}:?\d{2}\s.{1,150})\s*:?\s*$"
)
_STRONG_LEAD = re.compile(
    r"^\s*(?:(?:on|il|in data|le|am|el|em|op|den|på|w dniu|dnia|dne|в)\s|\d)", re.IGNORECASE
)
#: How an attribution line begins: a lead word, or a date within its first words.
_LEAD = re.compile(
    r"^\s*(?:on|il|in data|le|am|el|em|op|den|på|w dniu|dnia|dne|в|the|"
    r"\S+\s+\S*\d|\S*\d|\S+\s+\S+\s+\S*\d|\S+\s+\S+\s+\S+\s+\S*\d)\b",
    re.IGNORECASE,
)

#: "-----Original Message-----" and its translations; forwards too.
SEPARATOR = re.compile(
    r"^\s*[-=_*]{2,}\s*(?:original message|original|messaggio originale|messaggio inoltrato|"
    r"message d'origine|message original|message transféré|ursprüngliche nachricht|"
    r"weitergeleitete nachricht|mensaje original|mensaje reenviado|oorspronkelijk bericht|"
    r"origineel bericht|doorgestuurd bericht|mensagem original|mensagem encaminhada|"
    r"oryginalna wiadomość|wiadomość przekazana|ursprungligt meddelande|vidarebefordrat meddelande|"
    r"oprindelig besked|oprindelig meddelelse|videresendt besked|opprinnelig melding|"
    r"videresendt melding|alkuperäinen viesti|välitetty viesti|forwarded message|"
    r"forwarded|reply message|original e-mail|e-mail original)\s*[-=_*]{2,}\s*$",
    re.IGNORECASE,
)
#: The words that make a separator a forward's ("---------- Forwarded message ---------").
FORWARD = re.compile(
    r"forward|inoltrat|transféré|réexpédié|weitergeleitet|reenviado|doorgestuurd|encaminhad|"
    r"przekazan|vidarebefordra|videresendt|välitetty",
    re.IGNORECASE,
)
#: Apple Mail's forward line, alone on its line: "Begin forwarded message:".
FORWARD_INTRO = re.compile(
    r"^\s*(?:begin forwarded message|inizio messaggio inoltrato|début du message réexpédié|"
    r"anfang der weitergeleiteten nachricht|comienzo del mensaje reenviado|"
    r"begin doorgestuurd bericht|início da mensagem reencaminhada|"
    r"początek przekazywanej wiadomości|vidarebefordrat brev|videresendt melding)\s*:\s*$",
    re.IGNORECASE,
)

#: The subject of a forward, as clients prefix it: "Fwd:", "FW:", Outlook's "I:" (it),
#: "TR:" (fr), "WG:" (de), "RV:" (es), "ENC:" (pt), "Doorst:" (nl), "PD:" (pl),
#: "VB:" (sv), "VS:" (da, no), "VL:" (fi).
FORWARD_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]*\]\s*)?(?:fwd?|i|inoltro|tr|wg|rv|enc|doorst|pd|vb|vs|vl|fs)\s*:",
    re.IGNORECASE,
)

_FROM_LABELS = (
    r"from|da|de|von|van|fra|från|od|lähettäjä|mittente|remitente|expéditeur|absender|"
    r"afzender|nadawca|avsändare|kimden|от|de la|发件人|寄件者"
)
_OTHER_LABELS = (
    r"sent|date|to|cc|bcc|subject|reply-to|inviato|data|a|oggetto|ccn|rispondi a|envoyé|"
    r"envoyé le|à|objet|gesendet|datum|an|betreff|kopie|enviado|enviado el|enviada|fecha|para|"
    r"ogg|sujet|copie à|message du|asunto|verzonden|aan|onderwerp|assunto|wysłano|wysłane|do|temat|dw|skickat|till|ämne|"
    r"kopia|sendt|til|emne|dato|kopi|lähetetty|vastaanottaja|aihe|päivämäärä|kopio|"
    r"отправлено|кому|тема|дата|копия|发送时间|收件人|主题|抄送|日期|寄件日期|收件者|主旨"
)
_LABEL = r"^\s*\**\s*(?:{})\s*\**\s*[:：]"
_FROM = re.compile(_LABEL.format(_FROM_LABELS) + r"\s*\**\s*\S", re.IGNORECASE)
HEADER_LABEL = re.compile(_LABEL.format(_OTHER_LABELS + "|" + _FROM_LABELS), re.IGNORECASE)

#: The last line a phone or webmail app adds: "Inviato da iPhone", "Sent from my Galaxy".
MOBILE_SIGNATURE = re.compile(
    r"^\s*(?:sent from|sent with|sent via|sent using|get outlook for|inviato da|inviato dal|"
    r"inviato con|inviato tramite|scarica outlook|ottieni outlook|envoyé de|envoyé depuis|envoyé à partir de|"
    r"envoyé avec|obtenir outlook|télécharger outlook|von meinem|gesendet von|gesendet mit|"
    r"gesendet vom|holen sie sich outlook|enviado desde|enviado de|enviado do|enviado con|"
    r"obtener outlook|verzonden vanaf|verstuurd vanaf|verzonden met|verstuurd met|"
    r"download outlook|wysłane z|wysłano z|skickat från|sendt fra|sendt från|lähetetty|"
    r"hent outlook|pobierz outlook|baixe o outlook|obter o outlook)\b.{0,90}$",
    re.IGNORECASE,
)


def from_label(line: str) -> bool:
    """The line is a "From:" header line ("Da: …", "De : …", "**Von:** …")."""
    return bool(_FROM.match(line)) and len(line) < 300


def _joinable(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and (not stripped.startswith(">") or stripped in (">:", "> :"))


def _is_attribution(text: str) -> bool:
    if len(text) > 500:
        return False
    if any(p.match(text) for p in (_DATE_FIRST, _DATED_ADDRESS, _DASHED, _NO_COLON, _GMAIL_DATE)):
        return True
    if not _ATTRIBUTION.match(text) or not (re.search(r"\d", text) or "@" in text):
        return False
    return bool(_LEAD.match(text) or _NAME_FIRST.match(text))


def attribution_at(lines: list[str], n: int) -> int:
    """How many lines the attribution starting at line `n` spans (1 to 3, or up to 7
    for an "On …" line that a client broke around blank lines), or 0."""
    if not _joinable(lines[n]) or lines[n].lstrip().startswith(">"):
        return 0
    joined = lines[n].strip()
    for span in (1, 2, 3):
        if span > 1:
            if n + span - 1 >= len(lines) or not _joinable(lines[n + span - 1]):
                return _broken_span(lines, n)
            nxt = lines[n + span - 1].strip()
            joined = joined + ("" if nxt.startswith(">") or joined.endswith("<") else " ") + nxt
        if _is_attribution(joined):
            if span > 1 and _STRONG_LEAD.match(lines[n + 1]) and attribution_at(lines, n + 1):
                return 0  # the attribution starts on the next line: this one is the customer's
            return span
        if joined.endswith(":"):
            return 0
    return 0


def _broken_span(lines: list[str], n: int) -> int:
    """ "On Thu, 31 Mar 2016 at 11:16 Name", blank, "<", "mailto:…", "> wrote:"."""
    if not _STRONG_LEAD.match(lines[n]) or lines[n].rstrip().endswith((".", "!", "?", ",")):
        return 0
    joined = lines[n].strip()
    for end in range(n + 1, min(n + 7, len(lines))):
        part = lines[end].strip()
        if part and not (
            part.startswith(("<", ">", "mailto:")) or ("@" in part and len(part) < 100)
        ):
            return 0
        joined += " " + part
        if lines[end].rstrip().endswith(":"):
            return end - n + 1 if _is_attribution(" ".join(joined.split())) else 0
    return 0
