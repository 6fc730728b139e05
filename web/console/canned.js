// Canned replies: typed with "/" in the reply box, filled with the conversation's variables.
// {{contact.name}}, {{contact.email}}, {{contact.first_name}}, {{agent.name}}, {{conversation.id}}.

// A variable with no value goes with the space before it: "Buonasera {{contact.name}}, …"
// for a customer without a name reads "Buonasera, …", never "Buonasera , …".
export function fill(text, vars) {
  return text.replace(/( ?)\{\{\s*([a-z_]+)\.([a-z_]+)\s*\}\}/g, (whole, space, obj, key) => {
    const value = vars[obj]?.[key];
    return value == null || value === "" ? "" : space + String(value);
  });
}

export function variables(conversation, agent) {
  const contact = conversation?.contact || {};
  const name = contact.name || "";
  return {
    contact: { name, first_name: name.split(/\s+/)[0] || "", email: contact.email || "" },
    agent: { name: agent?.name || "" },
    conversation: { id: conversation?.id ?? "" },
  };
}

// The "/word" being typed just before the caret, or null.
export function slashQuery(textarea) {
  const before = textarea.value.slice(0, textarea.selectionStart);
  const m = /(?:^|\s)\/([\w-]*)$/.exec(before);
  return m ? { query: m[1].toLowerCase(), start: before.length - m[1].length - 1 } : null;
}

export function matches(canned, query) {
  return canned
    .filter((c) => c.short_code.includes(query) || c.text.toLowerCase().includes(query))
    .sort((a, b) => Number(!a.short_code.startsWith(query)) - Number(!b.short_code.startsWith(query)))
    .slice(0, 8);
}

// Replace the "/word" with the filled text and put the caret after it.
export function insert(textarea, slash, text) {
  const end = textarea.selectionStart;
  textarea.value = textarea.value.slice(0, slash.start) + text + textarea.value.slice(end);
  const caret = slash.start + text.length;
  textarea.setSelectionRange(caret, caret);
}
