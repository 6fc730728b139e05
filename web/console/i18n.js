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
    edited: "modificato", file_too_big: "File troppo grande", site_visitor: "visitatore del sito",
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
    edited: "edited", file_too_big: "File too large", site_visitor: "site visitor",
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
