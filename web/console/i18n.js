// The console's texts in Italian and English, following the agent's language setting.
const TEXTS = {
  it: {
    email: "Email", password: "Password", login: "Accedi", conversations: "Conversazioni",
    presence: "Presenza", online: "Online", busy: "Occupato", offline: "Offline", settings: "Impostazioni",
    mine: "Mie", unassigned: "Non assegnate", all: "Tutte", status: "Stato",
    open: "Aperte", pending: "In attesa", snoozed: "Posticipate", resolved: "Risolte", any_status: "Tutti gli stati",
    channel: "Canale", any_channel: "Tutti i canali", any_inbox: "Tutte le inbox", label: "Etichetta",
    pick: "Seleziona una conversazione", assignee: "Assegnatario", nobody: "Nessuno", team: "Team", no_team: "Nessun team",
    priority: "Priorità", urgent: "Urgente", high: "Alta", normal: "Normale", low: "Bassa",
    snooze: "Posticipa…", in_1h: "Tra un'ora", tomorrow: "Domani alle 9", monday: "Lunedì alle 9", until_reply: "Fino alla risposta",
    resolve: "Risolvi", reopen: "Riapri", add_label: "+ etichetta", remove_label: "Togli etichetta",
    reply: "Risposta", note: "Nota privata", reply_ph: "Scrivi… (Invio invia, / risposte pronte)",
    note_ph: "Nota privata, visibile solo al team…", attach: "Allega", send: "Invia",
    customer: "Cliente", identities: "Canali", sentiment: "Sentiment recente", past: "Conversazioni",
    language: "Lingua", timezone: "Fuso orario", sound: "Suono per i nuovi messaggi",
    shortcuts: "Scorciatoie: Alt+J / Alt+K conversazione successiva / precedente, Alt+R risolvi, Alt+N nota, / risposte pronte, Esc chiude.",
    cancel: "Annulla", save: "Salva", connected: "Connesso", disconnected: "Connessione persa, riconnessione…",
    not_sent: "non inviato", retry: "Riprova", private_note: "Nota privata", typing: "%s sta scrivendo…",
    new_conversation: "Nuova conversazione", new_message: "Nuovo messaggio", no_canned: "Nessuna risposta pronta",
    snoozed_until: "Posticipata fino a %s", name: "Nome", phone: "Telefono", stage: "Fase", since: "Cliente dal",
    positive: "positivo", neutral: "neutro", negative: "negativo", none: "—", empty: "Nessuna conversazione qui",
    lead_view: "Vista team lead", period: "Periodo", today: "Oggi", days7: "7 giorni", days30: "30 giorni",
    group_by: "Per", agent: "Agente", export_csv: "Esporta CSV", waiting_now: "in coda ora",
    conversations_today: "conversazioni oggi", first_response_median: "prima risposta (mediana)", csat: "CSAT medio",
    sla_breaches: "SLA mancati", queues: "Code", waiting: "In attesa", longest_wait: "Attesa massima",
    policy: "Assegnazione", agents: "Agenti", load: "Carico", heatmap: "Messaggi in arrivo per ora e giorno",
    report: "Report", manual: "manuale", round_robin: "a turno", least_busy: "meno carico",
    first_response: "prima risposta", next_response: "risposta successiva", conversations_n: "conversazioni",
    messages_in: "ricevuti", messages_out: "inviati", median: "mediana", p90: "90° perc.", resolution: "risoluzione",
    breach_line: "#%s", no_breaches: "Nessun SLA mancato", weekdays: "lun,mar,mer,gio,ven,sab,dom",
    public: "Pubblico", public_hint: "La risposta sarà un post pubblico, visibile a tutti",
    public_ph: "Risposta PUBBLICA, visibile a tutti…",
    edited: "modificato", file_too_big: "File troppo grande", site_visitor: "visitatore del sito",
    duplicates: "Possibili duplicati", merge_contact: "Unisci", contacts_merged: "Contatti uniti", undo_merge: "Annulla unione",
    quoted_text: "Testo citato",
  },
  en: {
    email: "Email", password: "Password", login: "Log in", conversations: "Conversations",
    presence: "Presence", online: "Online", busy: "Busy", offline: "Offline", settings: "Settings",
    mine: "Mine", unassigned: "Unassigned", all: "All", status: "Status",
    open: "Open", pending: "Pending", snoozed: "Snoozed", resolved: "Resolved", any_status: "Any status",
    channel: "Channel", any_channel: "All channels", any_inbox: "All inboxes", label: "Label",
    pick: "Pick a conversation", assignee: "Assignee", nobody: "Nobody", team: "Team", no_team: "No team",
    priority: "Priority", urgent: "Urgent", high: "High", normal: "Normal", low: "Low",
    snooze: "Snooze…", in_1h: "For an hour", tomorrow: "Tomorrow at 9", monday: "Monday at 9", until_reply: "Until they reply",
    resolve: "Resolve", reopen: "Reopen", add_label: "+ label", remove_label: "Remove label",
    reply: "Reply", note: "Private note", reply_ph: "Write… (Enter sends, / canned replies)",
    note_ph: "Private note, only your team sees it…", attach: "Attach", send: "Send",
    customer: "Customer", identities: "Channels", sentiment: "Recent sentiment", past: "Conversations",
    language: "Language", timezone: "Time zone", sound: "Sound for new messages",
    shortcuts: "Shortcuts: Alt+J / Alt+K next / previous conversation, Alt+R resolve, Alt+N note, / canned replies, Esc closes.",
    cancel: "Cancel", save: "Save", connected: "Connected", disconnected: "Connection lost, reconnecting…",
    not_sent: "not sent", retry: "Retry", private_note: "Private note", typing: "%s is typing…",
    new_conversation: "New conversation", new_message: "New message", no_canned: "No canned reply",
    snoozed_until: "Snoozed until %s", name: "Name", phone: "Phone", stage: "Stage", since: "Customer since",
    positive: "positive", neutral: "neutral", negative: "negative", none: "—", empty: "No conversations here",
    lead_view: "Team lead view", period: "Period", today: "Today", days7: "7 days", days30: "30 days",
    group_by: "By", agent: "Agent", export_csv: "Export CSV", waiting_now: "waiting now",
    conversations_today: "conversations today", first_response_median: "first response (median)", csat: "average CSAT",
    sla_breaches: "SLA breaches", queues: "Queues", waiting: "Waiting", longest_wait: "Longest wait",
    policy: "Assignment", agents: "Agents", load: "Load", heatmap: "Incoming messages by hour and day",
    report: "Report", manual: "manual", round_robin: "round-robin", least_busy: "least busy",
    first_response: "first response", next_response: "next response", conversations_n: "conversations",
    messages_in: "received", messages_out: "sent", median: "median", p90: "90th pct", resolution: "resolution",
    breach_line: "#%s", no_breaches: "No SLA breaches", weekdays: "Mon,Tue,Wed,Thu,Fri,Sat,Sun",
    public: "Public", public_hint: "The reply will be a public post, visible to everyone",
    public_ph: "PUBLIC reply, visible to everyone…",
    edited: "edited", file_too_big: "File too large", site_visitor: "site visitor",
    duplicates: "Possible duplicates", merge_contact: "Merge", contacts_merged: "Contacts merged", undo_merge: "Undo merge",
    quoted_text: "Quoted text",
  },
};

let current = "it";

export function setLanguage(lang) {
  current = TEXTS[lang] ? lang : "it";
  document.documentElement.lang = current;
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  for (const node of document.querySelectorAll("[data-t-label]")) node.setAttribute("aria-label", t(node.dataset.tLabel));
  for (const node of document.querySelectorAll("[data-t-ph]")) node.placeholder = t(node.dataset.tPh);
}

export function language() { return current; }

export function t(key, arg) {
  const text = TEXTS[current][key] ?? TEXTS.it[key] ?? key;
  return arg === undefined ? text : text.replace("%s", arg);
}
