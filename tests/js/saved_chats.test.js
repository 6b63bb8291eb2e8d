const test = require("node:test");
const assert = require("node:assert/strict");
const { browserFile, storage } = require("./browser_file.js");

const KEY = "websim-studio-chat";
const MARK = "unread";

function savedChats(stored) {
    const localStorage = storage(stored === undefined ? {} : { [KEY]: stored });
    const globals = { localStorage, Date: { now: () => 1700000000000 } };
    const chats = browserFile("saved_chats.js", globals)(KEY, MARK);
    return { chats, localStorage };
}

test("a library that could not be decrypted is kept aside and said once", () => {
    const { chats, localStorage } = savedChats("encrypted-under-another-secret");
    chats.remember();
    // What BrowserState gives when it could not decrypt: its default, with the mark.
    const shown = chats.keepUnreadable({ chats: [], current: "", [MARK]: true });
    assert.equal(shown.unreadable, true);
    assert.deepEqual(shown.chats, []);
    const aside = `${KEY}:unreadable:1700000000000`;
    assert.equal(localStorage.getItem(aside), "encrypted-under-another-secret");
    // Said once: the next look finds nothing remembered.
    const again = chats.keepUnreadable({ chats: [], current: "", [MARK]: true });
    assert.equal(again.unreadable, undefined);
});

test("a library that was read comes through untouched", () => {
    const { chats, localStorage } = savedChats("encrypted-under-this-secret");
    chats.remember();
    const library = { chats: [{ id: "a", history: [] }], current: "a" };
    assert.equal(chats.keepUnreadable(library), library);
    assert.deepEqual([...localStorage.kept.keys()], [KEY]);
});

test("a browser with nothing saved is not told anything was lost", () => {
    const { chats, localStorage } = savedChats(undefined);
    chats.remember();
    const fresh = { chats: [], current: "", [MARK]: true };
    assert.equal(chats.keepUnreadable(fresh), fresh);
    assert.equal(localStorage.kept.size, 0);
});
