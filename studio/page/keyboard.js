// The page's keys, and where the focus goes. Applied to the page's selectors (__init__.py):
// - in a message being edited (the Chatbot's own edit box) Enter saves and sends it again,
//   Shift+Enter adds a line, Esc cancels; its ✓ and ✕ get names that say so;
// - Esc anywhere else clicks a Stop that is shown (a reply on its way, an image being made);
// - Ctrl+Shift+O (Cmd+Shift+O on a Mac) starts a new chat, as ChatGPT's does;
// - the message box gets the focus back once it opens again after a reply or a Stop, and after
//   a switch of conversation on a wide screen (on a phone that would raise the keyboard).
(selectors, say) => {
    const EDIT_BOX = "#chatbot textarea.edit-textarea";
    // Gradio's own names for the edit box's buttons, and what they do here.
    const EDIT_BUTTONS = { Submit: say("keys.save_edit"), Cancel: say("keys.cancel_edit") };

    // What a key means, from the key and where it was pressed; null: the page's own default.
    const actionFor = (key, where) => {
        if (key.isComposing) return null; // an input method is still composing a character
        const modified = key.ctrlKey || key.metaKey || key.altKey;
        if (where.editing) {
            if (key.key === "Enter" && !key.shiftKey && !modified) return "save-edit";
            if (key.key === "Escape") return "cancel-edit";
            return null;
        }
        // An Esc that closes something of its own (a question in the sidebar, a renaming, the
        // large view of an image) does only that.
        if (key.key === "Escape" && where.stopShown && !where.escapeTaken) return "stop";
        const command = (key.ctrlKey || key.metaKey) && key.shiftKey && !key.altKey;
        if (command && (key.key === "o" || key.key === "O" || key.code === "KeyO")) return "new-chat";
        return null;
    };

    const shown = (element) =>
        Boolean(element) && !element.disabled && element.getClientRects().length > 0;

    // The Chatbot's buttons for the message being edited sit in the row after the message's.
    const editButton = (box, gradioName) => {
        const row = box.closest(".message-row");
        const buttons = row && row.nextElementSibling;
        const label = EDIT_BUTTONS[gradioName];
        return buttons
            ? buttons.querySelector(`button[aria-label="${label}"], button[aria-label="${gradioName}"]`)
            : null;
    };

    const nameEditButtons = (root) => {
        root.querySelectorAll("#chatbot .message-buttons button").forEach((button) => {
            const name = EDIT_BUTTONS[button.getAttribute("aria-label")];
            if (name) {
                button.setAttribute("aria-label", name);
                button.setAttribute("title", name);
            }
        });
    };

    const install = (document) => {
        const window = document.defaultView;
        const wide = () => window.matchMedia("(min-width: 1100px)").matches;
        const draft = () => document.querySelector(selectors.draft);
        const stop = () => selectors.stops.map((s) => document.querySelector(s)).find(shown);
        const focusDraft = () => {
            const box = draft();
            if (box && !box.disabled) box.focus({ preventScroll: true });
        };
        // Whether the focus was left nowhere in particular (on the page's body, on a button that
        // has gone, on the box as it locked, on the Stop just pressed): then it belongs back in
        // the message box.
        const focusIsLost = () => {
            const active = document.activeElement;
            if (!active || active === document.body || !active.isConnected) return true;
            return active === draft() || selectors.stops.some((stop) => active.matches(stop));
        };

        // Twice: before the page's own handlers for the edit box (Gradio's would take Enter),
        // and after them for the rest, so that an Esc a control has used (it prevented the
        // default) or a dialog closes by itself is not also a Stop.
        const onKey = (editPhase) => (event) => {
            if (event.defaultPrevented) return;
            const target = event.target;
            const editing = Boolean(target && target.matches && target.matches(EDIT_BOX));
            if (editing !== editPhase) return;
            const escapeTaken = Boolean(target && target.closest && target.closest("dialog"));
            const where = { editing, stopShown: Boolean(stop()), escapeTaken };
            const action = actionFor(event, where);
            if (!action) return;
            event.preventDefault();
            event.stopPropagation();
            if (action === "save-edit" || action === "cancel-edit") {
                const button = editButton(target, action === "save-edit" ? "Submit" : "Cancel");
                if (button) button.click();
            } else if (action === "stop") {
                stop().click();
            } else if (action === "new-chat") {
                const tab = document.querySelector(selectors.chatTab);
                if (tab && tab.getAttribute("aria-selected") !== "true") tab.click();
                const button = document.querySelector(selectors.newChat);
                if (button) button.click();
                setTimeout(focusDraft, 0);
            }
        };
        document.addEventListener("keydown", onKey(true), true);
        document.addEventListener("keydown", onKey(false));

        // Switching conversations: once the switch is on the page, the box is ready to type in.
        document.addEventListener("click", (event) => {
            const target = event.target;
            if (!target || !target.closest) return;
            const switched = target.closest(`${selectors.newChat}, ${selectors.conversations} label`);
            if (switched && wide()) setTimeout(focusDraft, 100);
        });

        // The box locks while a reply is on its way; when it opens again, and the focus went
        // with the Stop that was pressed (or was nowhere), it goes back to the box.
        let wasLocked = false;
        const observer = new window.MutationObserver(() => {
            nameEditButtons(document);
            const box = draft();
            if (!box) return;
            if (box.disabled) wasLocked = true;
            else if (wasLocked) {
                wasLocked = false;
                // Once Gradio has swapped the Stop back for the send button.
                setTimeout(() => {
                    if (focusIsLost()) focusDraft();
                }, 0);
            }
        });
        const watch = () =>
            observer.observe(document.body, {
                subtree: true,
                childList: true,
                attributes: true,
                attributeFilter: ["disabled"],
            });
        if (document.body) watch();
        else document.addEventListener("DOMContentLoaded", watch);
    };

    return { actionFor, nameEditButtons, install };
}
