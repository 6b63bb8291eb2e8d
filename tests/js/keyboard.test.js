const test = require("node:test");
const assert = require("node:assert/strict");
const { browserFile, wordsIn } = require("./browser_file.js");

const keyboard = browserFile("keyboard.js")({
    draft: "#draft textarea",
    stops: ["#draft .stop-button", "#image-stop"],
    newChat: "#new-chat",
    chatTab: "button[role=tab][data-tab-id=chat]",
    conversations: "#conversations",
}, wordsIn());
const press = (key, extra = {}) => ({ key, shiftKey: false, ctrlKey: false, metaKey: false, altKey: false, ...extra });
const anywhere = { editing: false, stopShown: false };
const replying = { editing: false, stopShown: true };
const editing = { editing: true, stopShown: false };

test("in a message being edited Enter saves and sends, Shift+Enter adds a line, Esc cancels", () => {
    assert.equal(keyboard.actionFor(press("Enter"), editing), "save-edit");
    assert.equal(keyboard.actionFor(press("Enter", { shiftKey: true }), editing), null);
    assert.equal(keyboard.actionFor(press("Escape"), editing), "cancel-edit");
    // Esc there cancels the edit even while a reply is on its way, rather than stopping it.
    assert.equal(keyboard.actionFor(press("Escape"), { editing: true, stopShown: true }), "cancel-edit");
    assert.equal(keyboard.actionFor(press("a"), editing), null);
});

test("a character still being composed by an input method is left to it", () => {
    assert.equal(keyboard.actionFor(press("Enter", { isComposing: true }), editing), null);
    assert.equal(keyboard.actionFor(press("Escape", { isComposing: true }), replying), null);
});

test("Esc stops only while a Stop is shown", () => {
    assert.equal(keyboard.actionFor(press("Escape"), replying), "stop");
    assert.equal(keyboard.actionFor(press("Escape"), anywhere), null);
    // Closing a dialog of its own, Esc stops nothing.
    assert.equal(keyboard.actionFor(press("Escape"), { ...replying, escapeTaken: true }), null);
});

test("Ctrl+Shift+O, or Cmd+Shift+O on a Mac, starts a new chat; O alone or Ctrl+O do not", () => {
    assert.equal(keyboard.actionFor(press("O", { ctrlKey: true, shiftKey: true }), anywhere), "new-chat");
    assert.equal(keyboard.actionFor(press("o", { metaKey: true, shiftKey: true }), anywhere), "new-chat");
    // A keyboard layout that gives another character for the key still means the same key.
    assert.equal(
        keyboard.actionFor(press("Ø", { code: "KeyO", ctrlKey: true, shiftKey: true }), anywhere),
        "new-chat"
    );
    assert.equal(keyboard.actionFor(press("o", { ctrlKey: true }), anywhere), null);
    assert.equal(keyboard.actionFor(press("O", { shiftKey: true }), anywhere), null);
    assert.equal(
        keyboard.actionFor(press("O", { ctrlKey: true, shiftKey: true, altKey: true }), anywhere),
        null
    );
});

test("the edit box's buttons get names that say what they do; others keep theirs", () => {
    const button = (label) => {
        const attributes = { "aria-label": label };
        return {
            attributes,
            getAttribute: (name) => attributes[name] ?? null,
            setAttribute: (name, value) => { attributes[name] = value; },
        };
    };
    const buttons = [button("Submit"), button("Cancel"), button("Copy message")];
    keyboard.nameEditButtons({ querySelectorAll: () => buttons });
    assert.deepEqual(
        buttons.map((b) => [b.attributes["aria-label"], b.attributes.title]),
        [["Save and send", "Save and send"], ["Cancel editing", "Cancel editing"], ["Copy message", undefined]]
    );
});
