const test = require("node:test");
const assert = require("node:assert/strict");
const { browserFile, wordsIn } = require("./browser_file.js");

const entries = [
    { id: "a1", title: "Dogs, mostly", text: "About dogs and their walks", current: true },
    { id: "b2", title: "Café plans", text: "Where to drink a crème brûlée near the harbour", current: false },
    { id: "c3", title: "Lighthouse haiku", text: "Write a haiku about a lighthouse at night", current: false },
];

function sidebar(globals = {}) {
    return browserFile("sidebar.js", globals)(wordsIn());
}

const ids = (found) => found.map((entry) => entry.id);

test("a blank search lists every conversation, in the order sent", () => {
    const { matching } = sidebar();
    assert.deepEqual(ids(matching(entries, "")), ["a1", "b2", "c3"]);
    assert.deepEqual(ids(matching(entries, "   ")), ["a1", "b2", "c3"]);
});

test("the search finds words in titles and in what was said, whatever their case or accents", () => {
    const { matching } = sidebar();
    assert.deepEqual(ids(matching(entries, "DOGS")), ["a1"]);
    assert.deepEqual(ids(matching(entries, "cafe")), ["b2"]); // title's accent folded
    assert.deepEqual(ids(matching(entries, "Crème Brulee")), ["b2"]); // text, either spelling
    assert.deepEqual(ids(matching(entries, "haiku night")), ["c3"]); // every word, anywhere
    assert.deepEqual(ids(matching(entries, "haiku dogs")), []); // each word, in one conversation
    assert.deepEqual(ids(matching(entries, "a")), ["a1", "b2", "c3"]);
});

test("whatever the server sent, the search neither throws nor lists what has no id", () => {
    const { matching } = sidebar();
    assert.equal(matching(null, "x").length, 0);
    assert.equal(matching("junk", "").length, 0);
    const odd = [null, 7, { title: "no id" }, { id: "", title: "blank" }, { id: "ok" }];
    assert.deepEqual(ids(matching(odd, "")), ["ok"]);
    assert.equal(matching(odd, "ok").length, 0); // no title, no text: nothing to match
});

test("a row found by what was said shows where; one found by its title shows nothing more", () => {
    const { excerpt } = sidebar();
    assert.equal(excerpt(entries[0], "dogs"), "");
    assert.equal(excerpt(entries[0], ""), "");
    assert.equal(excerpt(entries[1], "brulee"), "Where to drink a crème brûlée near the harbour");
    const long = { id: "d4", title: "Notes", text: `${"word ".repeat(40)}the needle ${"hay ".repeat(40)}` };
    const piece = excerpt(long, "NEEDLE");
    assert.match(piece, /^….*the needle.*…$/);
    assert.ok(piece.length <= 62, piece);
    // Folding that lengthens a character (a ligature) still points at the right place.
    const ligature = { id: "e5", title: "Other", text: `${"ﬁ ".repeat(60)}a rare stamp ${"x ".repeat(60)}` };
    assert.match(excerpt(ligature, "stamp"), /rare stamp/);
});

// The page around `settle`: a screen of `width`, the message box, the sidebar's fold toggle.
function page(width, open = true) {
    const seen = { focused: 0, toggled: 0 };
    const box = {
        disabled: false,
        focus: (options) => {
            seen.focused += 1;
            seen.preventScroll = options?.preventScroll;
        },
    };
    const waiting = [];
    const toggle = { click: () => { seen.toggled += 1; } };
    const document = {
        querySelector: (selector) => {
            if (selector === "#draft textarea") return box;
            if (selector === "#sidebar.open .toggle-button") return open ? toggle : null;
            return null;
        },
    };
    const window = {
        matchMedia: (query) => ({ matches: query === "(min-width: 1100px)" && width >= 1100 }),
    };
    const setTimeout = (then) => waiting.push(then);
    return { globals: { document, matchMedia: window.matchMedia, setTimeout }, seen, box, waiting };
}

test("after a choice, a wide screen focuses the message box and keeps the sidebar open", () => {
    const { globals, seen } = page(1280);
    sidebar(globals).settle();
    assert.deepEqual(seen, { focused: 1, toggled: 0, preventScroll: true });
});

test("after a choice, a phone folds the sidebar away and raises no keyboard", () => {
    const { globals, seen } = page(390);
    sidebar(globals).settle();
    assert.deepEqual(seen, { focused: 0, toggled: 1 });
    const folded = page(390, false);
    sidebar(folded.globals).settle(); // already folded: left alone
    assert.deepEqual(folded.seen, { focused: 0, toggled: 0 });
});

test("a message box still locked by the reply being stopped is focused once it opens", () => {
    const { globals, seen, box, waiting } = page(1280);
    box.disabled = true;
    sidebar(globals).settle();
    assert.equal(seen.focused, 0);
    waiting.shift()(); // still locked: it waits on
    assert.equal(seen.focused, 0);
    box.disabled = false;
    waiting.shift()();
    assert.equal(seen.focused, 1);
    assert.equal(waiting.length, 0);
});

test("an excerpt never cuts an emoji in half", () => {
    const { excerpt } = sidebar();
    const lone = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
    for (const lead of ["", "a"]) {
        const entry = { id: "f6", title: "Faces", text: `${lead}${"😀".repeat(40)} needle${" hay".repeat(30)}` };
        const piece = excerpt(entry, "needle");
        assert.match(piece, /needle/);
        assert.doesNotMatch(piece, lone, piece);
    }
});
