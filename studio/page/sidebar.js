// The conversations sidebar's list (studio/page/sidebar.py): a search box, then a row for each
// kept conversation, its title and its Rename and Delete buttons; the one on the page is marked.
// It lives in a gr.HTML, whose value is the list the server sends (saved_chats.entries), and is
// built here with the DOM's own methods (a title is text, never markup), again each time a new
// list arrives. Each action is an event of that gr.HTML for the server: "switch" puts another
// conversation on the page, "rename" titles one, "delete_current" deletes the one on the page
// (and stops a reply on its way), "delete_other" one that is not.
//
// The search filters here, over the list as sent: every word typed must be in the title or in
// what was said, whatever its case or accents. Its words are `say`'s (words.js).
(say) => {
    // Where the sidebar fits beside the conversation (chat_tab.js opens it there); narrower, it
    // covers the conversation, so it folds away once a choice is made.
    const WIDE = "(min-width: 1100px)";
    const EXCERPT_CHARS = 60;

    const fold = (text) =>
        String(text ?? "")
            .normalize("NFKD")
            .replace(/[\u0300-\u036f]/g, "")
            .toLowerCase();
    const wordsOf = (query) => fold(query).split(/\s+/).filter(Boolean);

    // Each entry's title and text folded, once: the search runs at every key typed.
    const foldedOf = (() => {
        const kept = new WeakMap();
        return (entry) => {
            if (!kept.has(entry)) {
                kept.set(entry, { title: fold(entry.title), text: fold(entry.text) });
            }
            return kept.get(entry);
        };
    })();

    // The entries holding every word of `query`, in their order; all of them for a blank query.
    const matching = (entries, query) => {
        const words = wordsOf(query);
        const usable = (Array.isArray(entries) ? entries : []).filter(
            (entry) => entry && typeof entry.id === "string" && entry.id
        );
        if (!words.length) return usable;
        return usable.filter((entry) => {
            const { title, text } = foldedOf(entry);
            return words.every((word) => title.includes(word) || text.includes(word));
        });
    };

    // A piece of `text` around the first word of `query` it holds, for a row whose title alone
    // does not say why it matches; "" when the title says it, or nothing is sought.
    const excerpt = (entry, query) => {
        const words = wordsOf(query);
        if (!entry || !words.length) return "";
        const folded = foldedOf(entry);
        if (words.every((word) => folded.title.includes(word))) return "";
        const found = words.map((word) => folded.text.indexOf(word)).filter((at) => at >= 0);
        if (!found.length) return "";
        const text = String(entry.text ?? "");
        let first = Math.min(...found);
        if (folded.text.length !== text.length) {
            // Folding changed the length (a ligature, some scripts): find the place in the text
            // a character at a time, up to the match.
            let length = 0;
            let index = 0;
            for (const character of text) {
                length += fold(character).length;
                if (length > first) break;
                index += character.length;
            }
            first = index;
        }
        // Not between the two halves of a character written as a surrogate pair (an emoji).
        const whole = (at) => (/[\udc00-\udfff]/.test(text[at] ?? "") ? at + 1 : at);
        const latest = text.length - EXCERPT_CHARS;
        const start = whole(Math.max(0, Math.min(first - Math.floor(EXCERPT_CHARS / 3), latest)));
        const end = whole(Math.min(text.length, start + EXCERPT_CHARS));
        const piece = text.slice(start, end).trim();
        return `${start > 0 ? "…" : ""}${piece}${end < text.length ? "…" : ""}`;
    };

    // What the page does once a conversation was chosen, started or deleted: on a wide screen the
    // message box takes the focus; on a narrow one the sidebar folds away to show it.
    // (The box is locked while a reply is on its way; switching stops it, and the box opens a
    // moment later: the focus waits for it, a few seconds at most.)
    const focusBox = (tries = 60) => {
        const box = document.querySelector("#draft textarea");
        if (box && !box.disabled) box.focus({ preventScroll: true });
        else if (tries > 0) setTimeout(() => focusBox(tries - 1), 50);
    };
    const settle = () => {
        if (window.matchMedia(WIDE).matches) {
            focusBox();
            return;
        }
        const toggle = document.querySelector("#sidebar.open .toggle-button");
        if (toggle) toggle.click();
    };

    const ICONS = {
        rename: "M4 20h4L19 9l-4-4L4 16v4zM14 6l4 4",
        delete: "M5 7h14M10 7V4h4v3M7 7l1 13h8l1-13M10 11v6M14 11v6",
        save: "M5 12l5 5L20 7",
        cancel: "M6 6l12 12M18 6L6 18",
    };

    const mount = (element, trigger, props, watch) => {
        let query = "";
        // The row being renamed (its id and the title as typed so far) or asking to be deleted:
        // kept across rebuilds, so that a list arriving meanwhile loses nothing typed.
        let editing = null;
        let confirming = null;

        const make = (tag, className, text) => {
            const made = document.createElement(tag);
            if (className) made.className = className;
            if (text !== undefined) made.textContent = text;
            return made;
        };
        const iconButton = (icon, label, role) => {
            const button = make("button", `conversation-icon ${icon}`);
            button.type = "button";
            button.dataset.role = role;
            button.setAttribute("aria-label", label);
            button.title = label;
            const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
            svg.setAttribute("viewBox", "0 0 24 24");
            svg.setAttribute("aria-hidden", "true");
            const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
            path.setAttribute("d", ICONS[icon]);
            svg.append(path);
            button.append(svg);
            return button;
        };

        const search = make("input", "conversation-search");
        search.type = "search";
        search.placeholder = say("sidebar.search");
        search.setAttribute("aria-label", say("sidebar.search"));
        search.autocomplete = "off";
        const status = make("p", "conversations-status");
        status.setAttribute("role", "status");
        const list = make("ul", "conversation-rows");
        list.setAttribute("aria-label", say("sidebar.list"));
        element.replaceChildren(search, status, list);

        const entries = () => matching(props.value, "");
        const focusIn = (id, role) => {
            const row = Array.from(list.children).find((each) => each.dataset.id === id);
            const target = row && row.querySelector(`[data-role="${role}"]`);
            if (target) target.focus();
            return Boolean(target);
        };

        const rename = (entry, title) => {
            editing = null;
            const wanted = title.trim();
            if (wanted !== entry.title) trigger("rename", { id: entry.id, title: wanted });
            render();
            focusIn(entry.id, "open");
        };
        const cancelRenaming = (entry) => {
            editing = null;
            render();
            focusIn(entry.id, "rename");
        };

        const editorRow = (item, entry) => {
            const input = make("input", "conversation-title");
            input.type = "text";
            input.maxLength = 120;
            input.value = editing.text;
            input.dataset.role = "title";
            input.setAttribute("aria-label", say("sidebar.new_title", { title: entry.title }));
            input.addEventListener("input", () => {
                editing.text = input.value;
            });
            input.addEventListener("keydown", (event) => {
                if (event.key === "Enter") {
                    event.preventDefault();
                    rename(entry, input.value);
                } else if (event.key === "Escape") {
                    event.preventDefault();
                    event.stopPropagation();
                    cancelRenaming(entry);
                }
            });
            // Leaving the box keeps what was typed, unsaved: saving then would race a click on
            // another conversation, whose switch would put the old title back.
            const save = iconButton("save", say("sidebar.save_title"), "save");
            save.addEventListener("click", () => rename(entry, input.value));
            const cancel = iconButton("cancel", say("sidebar.keep_title"), "cancel");
            cancel.addEventListener("click", () => cancelRenaming(entry));
            item.classList.add("editing");
            item.append(input, save, cancel);
        };

        const confirmRow = (item, entry, index) => {
            const question = make(
                "span",
                "conversation-question",
                say("sidebar.delete_question", { title: entry.title }),
            );
            const yes = make("button", "conversation-confirm", say("sidebar.delete"));
            yes.type = "button";
            yes.dataset.role = "confirm";
            const no = make("button", "conversation-keep", say("sidebar.keep"));
            no.type = "button";
            no.dataset.role = "keep";
            const keep = () => {
                confirming = null;
                render();
                focusIn(entry.id, "delete");
            };
            yes.addEventListener("click", () => {
                confirming = null;
                if (editing && editing.id === entry.id) editing = null;
                // The row goes at once; the server's list follows.
                props.value = (Array.isArray(props.value) ? props.value : []).filter(
                    (each) => each?.id !== entry.id
                );
                trigger(entry.current ? "delete_current" : "delete_other", { id: entry.id });
                render();
                const rows = list.querySelectorAll("[data-role=open]");
                const next = rows[Math.min(index, rows.length - 1)];
                if (next) next.focus();
                else search.focus();
                if (entry.current) settle();
            });
            no.addEventListener("click", keep);
            item.addEventListener("keydown", (event) => {
                if (event.key === "Escape") {
                    event.preventDefault();
                    keep();
                }
            });
            item.classList.add("confirming");
            item.append(question, yes, no);
        };

        const plainRow = (item, entry) => {
            const open = make("button", "conversation-open");
            open.type = "button";
            open.dataset.role = "open";
            open.title = entry.title;
            open.append(make("span", "conversation-name", entry.title));
            const said = excerpt(entry, query);
            if (said) open.append(make("span", "conversation-excerpt", said));
            if (entry.current) open.setAttribute("aria-current", "true");
            open.addEventListener("click", () => {
                if (!entry.current) trigger("switch", { id: entry.id });
                settle();
            });
            const renaming = iconButton("rename", say("sidebar.rename_one", { title: entry.title }), "rename");
            renaming.addEventListener("click", () => {
                editing = { id: entry.id, text: entry.title };
                confirming = null;
                render();
                const input = list.querySelector("[data-role=title]");
                if (input) {
                    input.focus();
                    input.select();
                }
            });
            const deleting = iconButton("delete", say("sidebar.delete_one", { title: entry.title }), "delete");
            deleting.addEventListener("click", () => {
                confirming = entry.id;
                render();
                focusIn(entry.id, "confirm");
            });
            item.append(open, renaming, deleting);
        };

        const render = () => {
            const all = entries();
            if (editing && !all.some((entry) => entry.id === editing.id)) editing = null;
            if (confirming && !all.some((entry) => entry.id === confirming)) confirming = null;
            const shown = matching(all, query);
            const rows = shown.map((entry, index) => {
                const item = make("li", "conversation");
                item.dataset.id = entry.id;
                if (entry.current) item.classList.add("current");
                if (confirming === entry.id) confirmRow(item, entry, index);
                else if (editing && editing.id === entry.id) editorRow(item, entry);
                else plainRow(item, entry);
                return item;
            });
            list.replaceChildren(...rows);
            if (!all.length) status.textContent = say("sidebar.none");
            else if (!shown.length) status.textContent = say("sidebar.no_match", { query: query.trim() });
            else status.textContent = "";
            status.hidden = !status.textContent;
        };

        // A new list from the server: rebuilt, the focus where it was (or on the row now in that
        // place, when its own row went).
        const refresh = () => {
            const focused = document.activeElement;
            const row = focused && list.contains(focused) ? focused.closest("li") : null;
            const role = focused?.dataset?.role;
            const place = row ? Array.from(list.children).indexOf(row) : -1;
            render();
            if (!row || focusIn(row.dataset.id, role) || focusIn(row.dataset.id, "open")) return;
            const rows = list.querySelectorAll("[data-role=open]");
            if (rows.length) rows[Math.min(place, rows.length - 1)].focus();
        };

        search.addEventListener("input", () => {
            query = search.value;
            render();
        });
        search.addEventListener("keydown", (event) => {
            if (event.key === "Escape" && search.value) {
                event.preventDefault();
                search.value = "";
                query = "";
                render();
            } else if (event.key === "ArrowDown") {
                const first = list.querySelector("[data-role=open]");
                if (first) {
                    event.preventDefault();
                    first.focus();
                }
            }
        });
        // Up and down go from one conversation to the next, as in a list.
        list.addEventListener("keydown", (event) => {
            const open = event.target?.closest?.("[data-role=open]");
            if (!open || !["ArrowDown", "ArrowUp", "Home", "End"].includes(event.key)) return;
            const rows = Array.from(list.querySelectorAll("[data-role=open]"));
            const place = rows.indexOf(open);
            const to = {
                ArrowDown: Math.min(place + 1, rows.length - 1),
                ArrowUp: place - 1,
                Home: 0,
                End: rows.length - 1,
            }[event.key];
            event.preventDefault();
            if (to < 0) search.focus();
            else rows[to].focus();
        });

        render();
        watch("value", refresh);
    };

    return { matching, excerpt, settle, mount };
}
